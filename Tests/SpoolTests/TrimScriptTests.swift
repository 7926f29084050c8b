@testable import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the trim script against Redis")
struct TrimScriptTests {
    /// A stream of entries `1-0` … `250-0` (three of Redis's 100-entry nodes; ids of one, two
    /// and three digits) with group `g`, which has read them all and acknowledged those before
    /// `oldestPending`. Returns the script's reply and the stream's length after it.
    private static func trim(_ fixture: QueueFixture, oldestPending: Int, cap: Int = 0) async throws -> (reply: [Int], length: Int) {
        let keys = QueueKeys(queue: try QueueName("trim-script"))
        for ms in 1...250 { try await fixture.redis("XADD", keys.stream, "\(ms)-0", "f", "v") }
        try await fixture.redis("XGROUP", "CREATE", keys.stream, "g", "0")
        try await fixture.redis("XREADGROUP", "GROUP", "g", "c", "COUNT", "1000", "STREAMS", keys.stream, ">")
        if oldestPending > 1 {
            _ = try await fixture.client.send(RedisCommand("XACK", [keys.stream, "g"] + (1..<oldestPending).map { "\($0)-0" }))
        }
        let reply = try await fixture.client.evaluate(SpoolScripts.trim, keys: [keys.stream, keys.meta], arguments: [String(cap)])
        let length = try #require(try await fixture.redis("XLEN", keys.stream).int)
        return (reply.array?.compactMap(\.int) ?? [], length)
    }

    @Test("it keeps a group's oldest pending entry, comparing ids as numbers")
    func keepsPending() async throws {
        try await QueueFixture.with { fixture in
            // last delivered 250-0; oldest pending 99-0, which sorts after 250-0 as text
            let (reply, length) = try await Self.trim(fixture, oldestPending: 99)
            #expect(reply == [0, 0], "the first node holds 99-0 and 100-0: nothing can go")
            #expect(length == 250)
        }
    }

    @Test("it drops the nodes below the oldest entry a group needs")
    func dropsDone() async throws {
        try await QueueFixture.with { fixture in
            let (reply, length) = try await Self.trim(fixture, oldestPending: 150)
            #expect(reply == [100, 0], "the first node, 1-0 to 100-0")
            #expect(length == 150)
        }
    }

    @Test("the hard cap drops more, and is counted in the meta hash")
    func cap() async throws {
        try await QueueFixture.with { fixture in
            let (reply, length) = try await Self.trim(fixture, oldestPending: 1, cap: 50)
            #expect(reply.first == 0 && reply.last == 250 - length)
            #expect(length >= 50 && length < 250)
            let meta = QueueKeys(queue: try QueueName("trim-script")).meta
            #expect(try await fixture.redis("HGET", meta, "dropped_by_cap").string == String(250 - length))
        }
    }

    @Test("a stream no group reads is not trimmed as done, but the hard cap applies")
    func noGroup() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("trim-nogroup"))
            for ms in 1...250 { try await fixture.redis("XADD", keys.stream, "\(ms)-0", "f", "v") }
            let untouched = try await fixture.client.evaluate(SpoolScripts.trim, keys: [keys.stream, keys.meta], arguments: ["0"])
            #expect(untouched.array?.compactMap(\.int) == [0, 0])
            let capped = try await fixture.client.evaluate(SpoolScripts.trim, keys: [keys.stream, keys.meta], arguments: ["100"])
            let length = try #require(try await fixture.redis("XLEN", keys.stream).int)
            #expect(capped.array?.compactMap(\.int) == [0, 250 - length] && length < 250)
            // and a missing stream is no error
            let missing = QueueKeys(queue: try QueueName("trim-missing"))
            #expect(try await fixture.client.evaluate(SpoolScripts.trim, keys: [missing.stream, missing.meta], arguments: ["100"]).array?.compactMap(\.int) == [0, 0])
        }
    }
}
