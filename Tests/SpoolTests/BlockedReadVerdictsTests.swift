@testable import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the dedup verdicts sent behind a blocking read")
struct BlockedReadVerdictsTests {
    @Test("the script names the entries after the worker's highest id, flags completed jobs, and stops at its limit")
    func verdicts() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("verdicts"))
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            for stream in [keys.stream, retry] {
                _ = try await fixture.redis("XGROUP", "CREATE", stream, "default", "0", "MKSTREAM")
            }
            var entries: [String] = []
            var jobs: [String] = []
            for _ in 0..<5 {
                let job = JobID().description
                jobs.append(job)
                entries.append(try await fixture.redis("XADD", keys.stream, "*", "v", "1", "id", job, "type", "t", "payload", "{}").string ?? "")
            }
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "other", "COUNT", "1", "STREAMS", keys.stream, ">")
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "me", "COUNT", "2", "STREAMS", keys.stream, ">")
            // the last job completed before: this copy of it is a duplicate
            _ = try await fixture.redis("ZADD", done, "1", jobs[4])
            // the read the script follows: entries 3 and 4
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "me", "COUNT", "2", "STREAMS", keys.stream, ">")

            func verdicts(after: String, limit: Int) async throws -> [StreamEntry.Key: Bool] {
                let reply = try await fixture.client.evaluate(
                    SpoolScripts.blockedReadVerdicts, keys: [keys.stream, retry, done],
                    arguments: ["default", "me", after, "0-0", String(limit)]
                )
                return SubscriptionRunner.parseVerdicts(reply)
            }
            func main(_ index: Int) -> StreamEntry.Key { StreamEntry.Key(source: .main, id: StreamID(entries[index])!) }

            // after the highest id the consumer saw (entry 2): exactly the new ones
            #expect(try await verdicts(after: entries[2], limit: 10) == [main(3): false, main(4): true])
            // after an older id it names every entry after it, whichever consumer took it (a
            // verdict depends on the job alone; the worker uses those of the entries it got)
            #expect(try await verdicts(after: "0-0", limit: 10) == [main(0): false, main(1): false, main(2): false, main(3): false, main(4): true])
            // a limit too small leaves the newest out: the worker asks ZMSCORE for those
            #expect(try await verdicts(after: "0-0", limit: 2) == [main(0): false, main(1): false])
            // an after-id above every entry (e.g. the group was recreated) names nothing
            #expect(try await verdicts(after: entries[4], limit: 10).isEmpty)
            // retry entries are named and flagged the same way
            let retried = try await fixture.redis("XADD", retry, "*", "id", jobs[4], "type", "t", "payload", "{}").string ?? ""
            let reply = try await fixture.client.evaluate(
                SpoolScripts.blockedReadVerdicts, keys: [keys.stream, retry, done],
                arguments: ["default", "me", entries[4], "0-0", "10"]
            )
            #expect(SubscriptionRunner.parseVerdicts(reply) == [StreamEntry.Key(source: .retry, id: try #require(StreamID(retried))): true])
        }
    }
}
