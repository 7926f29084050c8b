#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import SpoolRedis

/// ``HostLookup``: a host name is looked up on a thread of its own, and a connect stops
/// waiting for it at its deadline (``HostLookup/timeout(connectTimeout:)``). (`DNSLookupTimeoutTests` in SpoolCLITests shows it
/// with a DNS server that never answers.)
@Suite("Host lookups bounded by the connect timeout")
struct HostLookupTests {
    @Test("numeric hosts are used as they are, without a lookup")
    func numericHosts() throws {
        for numeric in ["127.0.0.1", "10.1.2.3", "::1", "fe80::1", "2001:db8::7"] {
            #expect(HostLookup.isNumeric(numeric), "\(numeric)")
            #expect(try HostLookup.addresses(of: numeric, timeout: .seconds(1)) == [numeric])
        }
        for name in ["localhost", "redis.internal", "127.0.0", "::1x", ""] {
            #expect(!HostLookup.isNumeric(name), "\(name)")
        }
    }

    @Test("a lookup that does not answer ends at the timeout, and callers meanwhile share it")
    func unansweredLookup() throws {
        let gate = Gate()
        let lookups = Atomic<Int>(0)
        let lookup: @Sendable (String) -> HostLookup.Outcome = { _ in
            lookups.add(1, ordering: .relaxed)
            gate.waitUntilOpen()
            return .success(["10.0.0.7"])
        }
        // the table of running lookups is shared by every test: a name of this test's own
        let host = "unanswered-\(UInt64.random(in: 0...UInt64.max)).test"
        for _ in 0..<2 {
            #expect {
                _ = try HostLookup.addresses(of: host, timeout: .milliseconds(20), lookingUpWith: lookup)
            } throws: { error in
                let reason = (error as? HostLookup.Failure)?.reason ?? ""
                return reason.contains("looking up host '\(host)' took longer than 0.02 seconds")
            }
        }
        // the lookup's thread may not have run yet: wait until it has (bounded), then count
        let clock = ContinuousClock()
        let bound = clock.now + .seconds(30)
        while lookups.load(ordering: .relaxed) == 0 && clock.now < bound { sched_yield() }
        #expect(lookups.load(ordering: .relaxed) == 1, "the second caller started a lookup of its own")
        gate.open()
        // the lookup's answer, or (once it is dropped) a new lookup's: the same either way
        #expect(try HostLookup.addresses(of: host, timeout: .seconds(30), lookingUpWith: lookup) == ["10.0.0.7"])
    }

    @Test("a connect waits for its lookup as long as its timeout, but at least 10 s")
    func lookupDeadline() {
        #expect(HostLookup.timeout(connectTimeout: .seconds(2)) == .seconds(10))
        #expect(HostLookup.timeout(connectTimeout: .milliseconds(1)) == .seconds(10))
        #expect(HostLookup.timeout(connectTimeout: .seconds(30)) == .seconds(30))
    }

    @Test("a failed lookup says why")
    func failedLookup() {
        let host = "failing-\(UInt64.random(in: 0...UInt64.max)).test"
        #expect(throws: HostLookup.Failure(reason: "Name or service not known")) {
            try HostLookup.addresses(of: host, timeout: .seconds(30)) { _ in .failure(.init(reason: "Name or service not known")) }
        }
    }

    @Test("the system's lookup finds localhost's IPv4 address first, as hiredis's did")
    func systemLookup() throws {
        let addresses = try HostLookup.systemLookup("localhost").get()
        #expect(addresses.first == "127.0.0.1", "\(addresses)")
        #expect(addresses.allSatisfy(HostLookup.isNumeric))
    }
}

/// A gate threads wait at until it is opened.
private final class Gate: Sendable {
    private let lock = ConditionLock()
    private let isOpen = Atomic<Bool>(false)

    func open() {
        lock.withLock {
            isOpen.store(true, ordering: .relaxed)
            lock.broadcast()
        }
    }

    func waitUntilOpen() {
        lock.withLock {
            while !isOpen.load(ordering: .relaxed) { lock.wait() }
        }
    }
}
