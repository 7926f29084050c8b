import CoreMetrics
import MetricsTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Metrics")
struct MetricsTests {
    struct Flaky: JobParameters {
        static let jobName = "flaky"
        let fail: Bool
        let permanent: Bool
    }

    @Test("processed counters and timers move as jobs succeed, retry, dead-letter and are skipped as duplicates")
    func counters() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("metered")
            let keys = QueueKeys(queue: queue)
            let producer = SpoolProducer(client: fixture.client, logger: fixture.logger, metricsFactory: metrics)
            var worker = fixture.worker(metrics: metrics)
            worker.register(Flaky.self, queue: queue, retry: .fixed(maxAttempts: 2, delay: .milliseconds(10))) { job, _ in
                if job.permanent { throw NonRetryableError("permanent") }
                if job.fail { throw TestFailure("transient") }
            }
            let duplicate = try JobEnvelope.make(Flaky(fail: false, permanent: false))
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                try await producer.push([Flaky(fail: false, permanent: false), Flaky(fail: false, permanent: false)], to: queue)
                try await producer.push(Flaky(fail: true, permanent: false), to: queue)     // retried once, then dead
                try await producer.push(Flaky(fail: false, permanent: true), to: queue)     // dead at once
                try await producer.push(duplicate, to: queue)
                try await waitUntil("the first copy is done") {
                    try await !fixture.redis("ZSCORE", keys.done(.default), "\(duplicate.id)").isNull
                }
                try await producer.push(duplicate, to: queue)                                // skipped
                try await waitUntil("both failures are dead-lettered") { try await fixture.redis("XLEN", keys.dead(.default)) == .integer(2) }
                try await waitUntil("the duplicate was skipped") {
                    metrics.counters(label: "spool.jobs.processed").contains { $0.dimensions.contains { $0 == ("status", "duplicate") } && ($0.lastValue ?? 0) > 0 }
                }
            }
            func processed(_ status: String) -> Int64 {
                metrics.counterTotal(label: "spool.jobs.processed", dimensions: [
                    ("queue", "metered"), ("group", "default"), ("type", "flaky"), ("status", status),
                ])
            }
            #expect(processed("succeeded") == 3)
            #expect(processed("retried") == 1)
            #expect(processed("dead") == 2)
            #expect(processed("duplicate") == 1)
            #expect(metrics.counterTotal(label: "spool.jobs.enqueued", dimensions: [("queue", "metered")]) == 6)
            let durations = try metrics.expectTimer("spool.job.duration", [("queue", "metered"), ("group", "default"), ("type", "flaky")])
            #expect(durations.values.count == 6, "one duration per handler run")
            let queued = try metrics.expectTimer("spool.job.queued.duration", [("queue", "metered"), ("group", "default"), ("type", "flaky")])
            #expect(queued.values.count == 6)
            for counter in metrics.counters {
                #expect(!counter.dimensions.contains { $0.0 == "id" || $0.0 == "job" }, "no job id in dimensions")
            }
        }
    }

    @Test("queue gauges exist only once the queue was read: no lag of 0 before it was measured")
    func noGaugesBeforeTheFirstReading() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("unread")
            let recorder = Recorder()
            // no readings at all: the worker's gauges interval is off
            var worker = fixture.worker(metrics: metrics) { $0.metricsInterval = nil }
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await fixture.producer.push(Greeting(name: "x"), to: queue)
                try await recorder.waitFor(1)
            }
            let made = metrics.recorders.map(\.label)   // gauges are recorders
            #expect(made.contains("spool.worker.inflight"), "\(made)")
            #expect(!made.contains { $0.hasPrefix("spool.queue.") }, "\(made)")
        }
    }

    @Test("the lag gauge equals the true backlog on a queue whose consumer stopped")
    func lagGauge() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("lagging")
            let keys = QueueKeys(queue: queue)
            // group "stuck": a consumer read 5 of 30 jobs and stopped
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "stuck", "$", "MKSTREAM")
            try await fixture.producer.push((0..<30).map { Greeting(name: "\($0)") }, to: queue)
            try await fixture.redis("XREADGROUP", "GROUP", "stuck", "gone", "COUNT", "5", "STREAMS", keys.stream, ">")
            // a worker of the same group whose only slot stays busy
            var worker = fixture.worker(metrics: metrics) { $0.metricsInterval = .milliseconds(100) }
            worker.subscribe(queue: queue, group: try GroupName("stuck"), options: .init(concurrency: 1))
            worker.register(Greeting.self, queue: queue, group: try GroupName("stuck")) { _, _ in
                try await Task.sleep(for: .seconds(60))
            }
            let dimensions = [("queue", "lagging"), ("group", "stuck")]
            try await running(worker) {
                try await waitUntil("the gauges were read") { (try? metrics.expectGauge("spool.queue.lag.entries", dimensions)) != nil }
                try await waitUntil("the lag gauge shows the backlog") {
                    let lag = try metrics.expectGauge("spool.queue.lag.entries", dimensions).lastValue
                    let pending = try metrics.expectGauge("spool.queue.pending", dimensions).lastValue
                    // "gone" has no heartbeat, but its jobs are reclaimed only once that was seen
                    // over rounds for 4.2 s (`LapseWatch`): the first round only sees it, and the
                    // single slot takes a new job and keeps it; 24 undelivered, 5 + 1 pending
                    return lag == 24 && pending == 6
                }
                #expect(try metrics.expectGauge("spool.queue.length", dimensions).lastValue == 30)
                let lagSeconds = try metrics.expectGauge("spool.queue.lag.seconds", dimensions).lastValue ?? -1
                #expect(lagSeconds >= 0)
            }
        }
    }
}
