@testable import Spool
import CoreMetrics
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the dedup verdicts of a blocking read")
struct BlockedReadVerdictsTests {
    @Test("a blocking read over both streams gets a verdict for every entry, also for a job that arrives while it waits")
    func verdicts() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("verdicts"))
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            for stream in [keys.stream, retry] {
                _ = try await fixture.redis("XGROUP", "CREATE", stream, "default", "0", "MKSTREAM")
            }
            func runner(blockingFor block: Duration) -> SubscriptionRunner {
                var configuration = SpoolWorker.Configuration()
                configuration.consumerName = "me"
                configuration.fetchBlockTime = block
                return SubscriptionRunner(
                    client: fixture.client, keys: keys, group: .default, subscription: Subscription(options: .init()),
                    configuration: configuration, logger: fixture.logger, metricsFactory: NOOPMetricsHandler.instance
                )
            }
            let brief = runner(blockingFor: .milliseconds(100))
            // long enough to be seen blocked, and woken by the job well before it ends
            let patient = runner(blockingFor: .seconds(30))
            func summary(_ read: [(entry: StreamEntry, duplicate: Bool)]) -> [String] {
                read.map { "\($0.entry.source == .retry ? "retry" : "main") \($0.entry.id) \($0.duplicate)" }
            }

            // nothing there: the read waits out its block time and returns nothing
            #expect(try await brief.blockingRead(count: 10).isEmpty)

            let jobs = (0..<3).map { _ in JobID().description }
            _ = try await fixture.redis("ZADD", done, String(JobID.currentMillis()), jobs[0])
            var entries: [String] = []
            for job in [jobs[0], jobs[1]] {
                entries.append(try await fixture.redis("XADD", keys.stream, "*", "v", "1", "id", job, "type", "t", "payload", "{}").string ?? "")
            }
            // an entry without a job id is never a duplicate
            entries.append(try await fixture.redis("XADD", keys.stream, "*", "malformed", "x").string ?? "")
            let retried = try await fixture.redis("XADD", retry, "*", "v", "1", "id", jobs[0], "type", "t", "payload", "{}").string ?? ""
            let read = try await brief.blockingRead(count: 10)
            #expect(summary(read) == [
                "main \(entries[0]) true", "main \(entries[1]) false", "main \(entries[2]) false", "retry \(retried) true",
            ])

            // a job that arrives while the read waits gets its verdict too
            async let waiting = patient.blockingRead(count: 10)
            try await waitUntil("the read is blocked") { try await blockedReadClient(fixture) != nil }
            _ = try await fixture.redis("ZADD", done, String(JobID.currentMillis()), jobs[2])
            let late = try await fixture.redis("XADD", keys.stream, "*", "v", "1", "id", jobs[2], "type", "t", "payload", "{}").string ?? ""
            #expect(summary(try await waiting) == ["main \(late) true"])
        }
    }
}
