@testable import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the fetch script against Redis")
struct FetchScriptTests {
    @Test("it acknowledges and records completions, reads due retries first, and flags jobs already completed")
    func acknowledgeAndRead() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("fetch-script"))
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            for stream in [keys.stream, retry] {
                _ = try await fixture.redis("XGROUP", "CREATE", stream, "default", "0", "MKSTREAM")
            }
            func add(_ stream: String, job: String) async throws -> String {
                try await fixture.redis("XADD", stream, "*", "v", "1", "id", job, "type", "t", "payload", "{}").string ?? ""
            }
            let jobs = (0..<4).map { _ in JobID().description }
            let first = try await add(keys.stream, job: jobs[0])
            let second = try await add(keys.stream, job: jobs[1])
            let again = try await add(keys.stream, job: jobs[0])   // the first job, pushed twice
            let retried = try await add(retry, job: jobs[2])
            _ = try await fixture.redis("ZADD", done, "1", jobs[3])
            let finished = try await add(keys.stream, job: jobs[3])   // completed before

            func fetch(count: Int, readRetries: Bool, acks: [(entry: String, job: String)]) async throws -> [(entry: StreamEntry, duplicate: Bool)] {
                var arguments = ["default", "me", String(count), readRetries ? "1" : "0", "1", "1000", "1", String(acks.count), "0"]
                arguments += acks.map(\.entry) + acks.map(\.job)
                let reply = try await fixture.client.evaluate(SpoolScripts.fetch, keys: [keys.stream, retry, done], arguments: arguments)
                return SubscriptionRunner.parseFetchReply(reply)
            }
            func summary(_ read: [(entry: StreamEntry, duplicate: Bool)]) -> [String] {
                read.map { "\($0.entry.source == .retry ? "retry" : "main") \($0.entry.id) \($0.duplicate)" }
            }

            // due retries first, then the main stream, up to the count
            let read = try await fetch(count: 2, readRetries: true, acks: [])
            #expect(summary(read) == ["retry \(retried) false", "main \(first) false"])
            #expect(read.first.flatMap { $0.entry.fields }.flatMap { SubscriptionRunner.field("id", in: $0) } == jobs[2])
            // completing the first job records it; its second copy is then a duplicate, and so
            // is the job completed before
            let next = try await fetch(count: 10, readRetries: false, acks: [(first, jobs[0])])
            #expect(summary(next) == ["main \(second) false", "main \(again) true", "main \(finished) true"])
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(3), "the first entry was acknowledged")
            #expect(try await fixture.redis("ZSCORE", done, jobs[0]) != .null)
            // with nothing left, a read returns nothing
            #expect(try await fetch(count: 10, readRetries: true, acks: []).isEmpty)
        }
    }
}
