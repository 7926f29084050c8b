import Histogram
import Logging
import ServiceLifecycle
import Spool
import SpoolRedis
import Synchronization

extension BenchContext {
    /// A histogram of nanoseconds, up to a minute, 3 significant digits.
    static func latencyHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Enqueue → handler start at a trickle: raw XADD → XREADGROUP BLOCK first (the ceiling),
    /// then Spool (push with the send time in a header, handler compares in the same process),
    /// then Spool with dedup off: what the dedup verdict's round trip adds, in the same run
    /// (no target; the targets are for a worker as it runs by default, dedup on).
    func measurePickup(into report: inout BenchReport) async throws {
        let count = Int(sizes.trickle.seconds * Double(sizes.trickleRate))
        print("pickup latency: \(sizes.trickleRate) jobs/s for \(sizes.trickle), raw, Spool, then Spool with dedup off")
        try await flush()
        let raw = try await rawPickup(count: count)
        try await flush()
        let spool = try await spoolPickup(count: count, dedup: true)
        try await flush()
        let withoutDedup = try await spoolPickup(count: count, dedup: false)
        try await flush()
        for (percentile, label, target) in [
            (50.0, "p50", BenchTarget.atMost(0.2)), (99.0, "p99", .atMost(0.5)), (99.9, "p999", nil),
        ] {
            report.add(
                "pickup latency \(label) (200 jobs/s)", Double(spool.valueAtPercentile(percentile)) / 1e6, unit: "ms",
                ceiling: Double(raw.valueAtPercentile(percentile)) / 1e6,
                ceilingSource: "XADD → XREADGROUP BLOCK \(label)", target: target,
                note: label == "p50" ? "\(spool.totalCount) jobs" : nil
            )
        }
        for (percentile, label) in [(50.0, "p50"), (99.0, "p99")] {
            report.add(
                "pickup latency \(label) (200 jobs/s, dedup off)", Double(withoutDedup.valueAtPercentile(percentile)) / 1e6, unit: "ms",
                ceiling: Double(raw.valueAtPercentile(percentile)) / 1e6,
                ceilingSource: "XADD → XREADGROUP BLOCK \(label)", target: nil,
                note: label == "p50" ? "\(withoutDedup.totalCount) jobs; no verdict round trip" : nil
            )
        }
    }

    /// Sends `count` jobs at the trickle rate; `push(index, sentAt)` enqueues one.
    private func trickle(count: Int, push: (Int, UInt64) async throws -> Void) async throws {
        let interval = Duration.seconds(1) / sizes.trickleRate
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<count {
            try await clock.sleep(until: start + interval * index)
            try await push(index, ProcessStatus.monotonicNanos())
        }
    }

    private func rawPickup(count: Int) async throws -> Histogram<UInt64> {
        let key = "bench:pickup"
        let client = self.client
        _ = try await client.send("XGROUP", "CREATE", key, "g", "$", "MKSTREAM")
        let read = RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "BLOCK", "1000", "STREAMS", key, ">")
        return try await withThrowingTaskGroup(of: Histogram<UInt64>?.self) { group in
            group.addTask {
                try await client.withDedicatedConnection { connection in
                    var histogram = Self.latencyHistogram()
                    var seen = 0
                    while seen < count {
                        let entries = Self.entries(try await connection.send(read, timeout: .seconds(5)))
                        let now = ProcessStatus.monotonicNanos()
                        for entry in entries {
                            if entry.fields.count >= 2, let sent = entry.fields[1].string.flatMap(UInt64.init) {
                                _ = histogram.record(now &- sent)
                            }
                        }
                        seen += entries.count
                        if !entries.isEmpty {
                            var ack = RedisCommand(name: "XACK", reservingBytes: 24 * entries.count + 32, arguments: entries.count + 2)
                            ack.append(key)
                            ack.append("g")
                            for entry in entries { ack.append(entry.id) }
                            _ = try await connection.send(ack)
                        }
                    }
                    return histogram
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(200))  // let the reader block first
                try await trickle(count: count) { _, sent in
                    _ = try await client.send("XADD", key, "*", "t", String(sent))
                }
                return nil
            }
            var result = Self.latencyHistogram()
            for try await histogram in group {
                if let histogram { result = histogram }
            }
            return result
        }
    }

    private func spoolPickup(count: Int, dedup: Bool) async throws -> Histogram<UInt64> {
        let queue = try QueueName(dedup ? "bench.pickup" : "bench.pickup-nodedup")
        let producer = SpoolProducer(client: client, logger: logger)
        let histogram = Mutex(Self.latencyHistogram())
        let seen = Atomic<Int>(0)
        var configuration = SpoolWorker.Configuration()
        configuration.consumerName = "bench"
        var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
        worker.subscribe(queue: queue, options: .init(concurrency: 32, dedup: dedup))
        worker.register(type: "tick", queue: queue) { _, context in
            let now = ProcessStatus.monotonicNanos()
            if let sent = context.headers["t"].flatMap(UInt64.init) {
                _ = histogram.withLock { $0.record(now &- sent) }
                seen.add(1, ordering: .relaxed)
            }
        }
        let payload = Array(#"{"n":0}"#.utf8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let serviceGroup = ServiceGroup(services: [worker], logger: logger)
            group.addTask { try await serviceGroup.run() }
            // warm up: the group exists, connections are open, the fetch loop blocks
            try await Task.sleep(for: .milliseconds(300))
            for _ in 0..<20 {
                try await producer.push(payload: payload, type: "tick", to: queue)
            }
            try await Task.sleep(for: .milliseconds(300))
            try await trickle(count: count) { _, sent in
                try await producer.push(payload: payload, type: "tick", to: queue, options: .init(headers: ["t": String(sent)]))
            }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while seen.load(ordering: .relaxed) < count && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        return histogram.withLock { $0 }
    }
}
