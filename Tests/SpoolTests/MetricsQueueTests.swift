import CoreMetrics
import Logging
import MetricsTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Testing

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

}
