@testable import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the fail script against Redis")
struct FailScriptTests {
    /// The worker sends the fail script again when its reply was lost (and the cluster client
    /// did so too): the second run found the retry-stream entry neither pending nor in the
    /// stream, took it for one the hard cap had deleted, and wrote the retry or dead letter again.
    @Test("run twice for an entry of the retry stream, it schedules one retry or writes one dead letter", arguments: ["retry", "dead"])
    func retryStreamEntryTwice(action: String) async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("fail-script"))
            let retry = keys.retry(.default)
            let scheduled = keys.scheduled(.default)
            let dead = keys.dead(.default)
            try await fixture.redis("XGROUP", "CREATE", retry, "default", "0", "MKSTREAM")
            let job = JobID().description
            let entry = try #require(try await fixture.redis("XADD", retry, "*", "v", "1", "id", job, "type", "t", "payload", "{}").string)
            try await fixture.redis("XREADGROUP", "GROUP", "default", "me", "STREAMS", retry, ">")
            func fail() async throws -> RESPValue {
                try await fixture.client.evaluate(
                    SpoolScripts.fail, keys: [retry, scheduled, dead],
                    arguments: ["default", entry, "1", action, String(JobID.currentMillis()), "v", "1", "id", job, "type", "t", "attempt", "2"]
                )
            }
            #expect(try await fail() == .integer(1))
            #expect(try await fixture.redis("XLEN", retry) == .integer(0), "acknowledged and deleted")
            // the retry is due at once: a promoter moves it into the retry stream, as a new
            // entry (left in the schedule, a second identical ZADD would only rescore it)
            let promoted = try await fixture.client.evaluate(
                SpoolScripts.promote, keys: [scheduled, retry], arguments: [String(JobID.currentMillis()), "100"]
            )
            #expect(promoted == .integer(action == "retry" ? 1 : 0))
            #expect(try await fail() == .integer(0), "settled already: nothing to do")
            let scheduledRetries = try #require(try await fixture.redis("ZCARD", scheduled).int)
            let promotedRetries = try #require(try await fixture.redis("XLEN", retry).int)
            let letters = try #require(try await fixture.redis("XLEN", dead).int)
            #expect(scheduledRetries + promotedRetries == (action == "retry" ? 1 : 0), "retries")
            #expect(letters == (action == "dead" ? 1 : 0), "dead letters")
        }
    }
}
