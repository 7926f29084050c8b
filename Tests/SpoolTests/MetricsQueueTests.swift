import CoreMetrics
import Logging
import MetricsTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Testing

/// What the worker records about its queue: jobs the hard cap dropped, lag it cannot tell,
/// jobs reclaimed from dead workers.
@Suite("Metrics: the queue")
struct MetricsQueueTests {
    @Test("jobs the hard cap drops are counted in spool.jobs.dropped, as many as dropped_by_cap says, and said at warning")
    func droppedByCap() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let log = CapturedLog()
            let queue = try QueueName("capped")
            let keys = QueueKeys(queue: queue)
            // Nodes of 2 entries, so the approximate cap (MAXLEN ~) can drop nearly everything;
            // a group that never reads keeps the done-trim (MINID) from taking any entry.
            try await fixture.redis("CONFIG", "SET", "stream-node-max-entries", "2")
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "idle", "0", "MKSTREAM")
            try await fixture.producer.push((0..<50).map { Greeting(name: "\($0)") }, to: queue)
            // its own group starts after the 50 jobs: no worker reads them
            var configuration = fixture.workerConfiguration()
            configuration.maxStreamLength = 5
            var worker = SpoolWorker(client: fixture.client, configuration: configuration, logger: log.logger, metricsFactory: metrics)
            worker.subscribe(queue: queue, options: .init(startFromBeginning: false))
            worker.register(Greeting.self, queue: queue) { _, _ in Issue.record("no job was to run") }
            func droppedByCap() async throws -> Int64 {
                Int64(try await fixture.redis("HGET", keys.meta, "dropped_by_cap").string ?? "0") ?? -1
            }
            func counted() -> Int64 { metrics.counterTotal(label: "spool.jobs.dropped", dimensions: [("queue", "capped")]) }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the cap dropped most of the 50") { try await droppedByCap() >= 40 }
            }
            let dropped = try await droppedByCap()
            #expect(counted() == dropped, "counted \(counted()), dropped_by_cap \(dropped)")
            #expect(try await fixture.redis("XLEN", keys.stream).int == 50 - Int(dropped))
            #expect(!log.levels(of: "dropped entries").isEmpty && log.levels(of: "dropped entries").allSatisfy { $0 == .warning })
        }
    }

    @Test("a lag Redis cannot tell (an unread entry deleted) is recorded as NaN, not 0")
    func unknownLag() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("holed")
            let keys = QueueKeys(queue: queue)
            let group = try GroupName("slow")
            try await fixture.redis("XGROUP", "CREATE", keys.stream, group.rawValue, "$", "MKSTREAM")
            try await fixture.producer.push((0..<10).map { Greeting(name: "\($0)") }, to: queue)
            // delete the newest unread entry: XINFO GROUPS then gives the group a null lag
            let newest = try #require(try await fixture.redis("XREVRANGE", keys.stream, "+", "-", "COUNT", "1").array?.first?.array?.first?.string)
            try await fixture.redis("XDEL", keys.stream, newest)
            // one slot, held: the worker reads one job and no more
            let gate = AsyncGate()
            var worker = fixture.worker(metrics: metrics) { $0.metricsInterval = .milliseconds(100) }
            worker.subscribe(queue: queue, group: group, options: .init(concurrency: 1))
            worker.register(Greeting.self, queue: queue, group: group) { _, _ in await gate.wait() }
            let dimensions = [("queue", "holed"), ("group", "slow")]
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the gauges were read") {
                    (try? metrics.expectGauge("spool.queue.pending", dimensions).lastValue) == 1
                }
                let lag = try metrics.expectGauge("spool.queue.lag.entries", dimensions).lastValue
                #expect(lag?.isNaN == true, "lag recorded as \(String(describing: lag))")
                gate.open()
            }
        }
    }

    @Test("reclaimed jobs are counted in spool.jobs.reclaimed, not as a status of spool.jobs.processed")
    func reclaimedCounter() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("orphans")
            let keys = QueueKeys(queue: queue)
            // a consumer without a heartbeat (a dead worker) took 3 jobs
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            try await fixture.producer.push((0..<3).map { Greeting(name: "\($0)") }, to: queue)
            try await fixture.redis("XREADGROUP", "GROUP", "default", "gone", "COUNT", "3", "STREAMS", keys.stream, ">")
            let recorder = Recorder()
            var worker = fixture.worker(metrics: metrics)
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await recorder.waitFor(3, within: .seconds(30))
            }
            #expect(metrics.counterTotal(label: "spool.jobs.reclaimed", dimensions: [("queue", "orphans"), ("group", "default")]) == 3)
            let statuses = metrics.counters(label: "spool.jobs.processed").compactMap { $0.dimensions.first { $0.0 == "status" }?.1 }
            #expect(!statuses.contains("reclaimed"), "\(Set(statuses))")
            #expect(metrics.counterTotal(label: "spool.jobs.processed", dimensions: [("queue", "orphans"), ("status", "succeeded")]) == 3)
        }
    }
}
