import CoreMetrics
import Logging
import MetricsTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// What the worker records per job: statuses, durations, time in the queue, log levels.
@Suite("Metrics: per-job outcomes")
struct MetricsOutcomeTests {
    static let dimensions = [("queue", "outcomes"), ("group", "default"), ("type", "greeting")]

    static func processed(_ metrics: TestMetrics, _ status: String) -> Int64 {
        metrics.counterTotal(label: "spool.jobs.processed", dimensions: dimensions + [("status", status)])
    }

    @Test("a job handed back twice, then run: handed_back 2, succeeded 1, one duration, one hand-back error line")
    func handedBack() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let log = CapturedLog()
            let queue = try QueueName("outcomes")
            let calls = Mutex(0)
            var worker = SpoolWorker(
                client: fixture.client, configuration: fixture.workerConfiguration(), logger: log.logger, metricsFactory: metrics
            )
            worker.register(Greeting.self, queue: queue) { _, _ in
                let call = calls.withLock { $0 += 1; return $0 }
                if call <= 2 { throw HandBackError("cannot start it yet", pause: .zero) }
            }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                try await fixture.producer.push(Greeting(name: "x"), to: queue)
                try await waitUntil(within: .seconds(30), "the job succeeded") { Self.processed(metrics, "succeeded") == 1 }
            }
            #expect(calls.withLock { $0 } == 3)
            #expect(Self.processed(metrics, "handed_back") == 2)
            #expect(Self.processed(metrics, "succeeded") == 1)
            #expect(Self.processed(metrics, "retried") == 0 && Self.processed(metrics, "dead") == 0)
            let durations = try metrics.expectTimer("spool.job.duration", Self.dimensions)
            #expect(durations.values.count == 1, "a duration only for the run that reached an outcome")
            // the second hand-back came within 30 s of the first: one line
            #expect(log.levels(of: "handed back unstarted") == [.error])
        }
    }

}
