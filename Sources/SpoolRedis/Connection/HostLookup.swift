#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Host-name lookups with a deadline.
///
/// hiredis looks a TCP address's host up with `getaddrinfo` before its timed connect, and that
/// call has no deadline: with a DNS server that does not answer, glibc waits its own `timeout:`
/// × `attempts:` (resolv.conf) for the IPv4 query and again for the IPv6 one. A connect with a
/// 1-second timeout took a minute with `options timeout:30 attempts:1`, and a worker's
/// reconnects, a shutdown and `spool health` waited with it. So the name is looked up here, on
/// a thread of its own, while the connecting thread waits at most ``timeout(connectTimeout:)``;
/// hiredis then connects to numeric addresses, which it does not look up.
///
/// A lookup that outlives its caller finishes on its thread (glibc's wait cannot be cut short)
/// and is dropped; callers asking for the same host meanwhile wait for that lookup rather than
/// start another, so a DNS server that does not answer costs one thread per host name, not one
/// per reconnect, and a worker's next connect gets the late answer if it comes.
enum HostLookup {
    /// Why a lookup gave no address: the one-line reason.
    struct Failure: Error, Equatable {
        var reason: String
    }

    /// What a lookup found: numeric addresses in the order to try them, or why none.
    typealias Outcome = Result<[String], Failure>

    /// How long a connect waits for its host's lookup: its connect timeout, but at least 10 s.
    /// glibc's resolver asks again after 5 s by default, so a lost DNS packet costs about 5 s
    /// (a well-known hiccup of busy container networks): that should delay a connect, as it
    /// did before lookups had a deadline, not fail it.
    static func timeout(connectTimeout: Duration) -> Duration {
        max(connectTimeout, .seconds(10))
    }

    /// The numeric addresses of `host`, in the order hiredis tries a name's: its IPv4 addresses,
    /// or its IPv6 ones when it has no IPv4 address. A numeric host comes back as it is, at once.
    /// - Throws: ``Failure`` when the lookup fails, or has not answered within `timeout`.
    static func addresses(of host: String, timeout: Duration) throws(Failure) -> [String] {
        if isNumeric(host) { return [host] }
        return try addresses(of: host, timeout: timeout, lookingUpWith: systemLookup)
    }

    /// ``addresses(of:timeout:)`` with the lookup itself given (it runs on a thread of its own,
    /// shared by the callers asking for `host` while it runs): tests give one that blocks.
    static func addresses(
        of host: String, timeout: Duration, lookingUpWith lookup: @escaping @Sendable (String) -> Outcome
    ) throws(Failure) -> [String] {
        let pending = inFlight.withLock { table -> Pending? in
            if let running = table[host] { return running }
            let started = Pending()
            let running = JoinableThread.detached(name: "spool-lookup") {
                let outcome = lookup(host)
                // dropped first: a caller coming after the answer starts a fresh lookup
                _ = inFlight.withLock { $0.removeValue(forKey: host) }
                started.finish(outcome)
            }
            guard running else { return nil }
            table[host] = started
            return started
        }
        // no thread could be made for it: looked up here, without a deadline, as hiredis did
        guard let pending else { return try lookup(host).get() }
        guard let outcome = pending.wait(timeout: timeout) else {
            throw Failure(reason: "looking up host '\(host)' took longer than \(timeout): the DNS server did not answer "
                + "(check /etc/resolv.conf and the network to it), or give the address as an IP")
        }
        return try outcome.get()
    }

    /// Lookups running, by host name.
    private static let inFlight = Mutex<[String: Pending]>([:])

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    static func isNumeric(_ host: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }

    /// `getaddrinfo` as hiredis calls it: IPv4 first, IPv6 if that found nothing.
    @Sendable static func systemLookup(_ host: String) -> Outcome {
        var lastFailure = Failure(reason: "no address found")
        for family in [AF_INET, AF_INET6] {
            var hints = addrinfo()
            hints.ai_family = family
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, nil, &hints, &list)
            guard status == 0 else {
                lastFailure = Failure(reason: status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status)))
                continue
            }
            defer { freeaddrinfo(list) }
            var found: [String] = []
            var next = list
            while let item = next {
                var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(item.pointee.ai_addr, item.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                    let numeric = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if !found.contains(numeric) { found.append(numeric) }
                }
                next = item.pointee.ai_next
            }
            if !found.isEmpty { return .success(found) }
        }
        return .failure(lastFailure)
    }

    /// One lookup's outcome, awaited by any number of threads.
    ///
    /// `@unchecked Sendable`: `outcome` is read and written only with `lock` held, and the
    /// lock's mutex and condition live at stable addresses for the object's life.
    private final class Pending: @unchecked Sendable {
        private let lock = ConditionLock()
        private var outcome: Outcome?

        func finish(_ outcome: Outcome) {
            lock.withLock {
                self.outcome = outcome
                lock.broadcast()
            }
        }

        /// The outcome, or `nil` when `timeout` passed first.
        func wait(timeout: Duration) -> Outcome? {
            let deadline = ContinuousClock.now + timeout
            return lock.withLock {
                while outcome == nil {
                    let left = deadline - .now
                    if left <= .zero { break }
                    lock.wait(for: left)
                }
                return outcome
            }
        }
    }
}
