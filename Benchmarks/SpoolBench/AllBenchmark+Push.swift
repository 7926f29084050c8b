import Histogram
import Spool
import SpoolRedis

extension BenchContext {
    /// Push from one task (rate, latency per push), from 64 tasks, and in batches of 100 from one
    /// task, from one on a thread of its own, and from two.
    func measurePush(ceilings: Ceilings?, into report: inout BenchReport) async throws {
        print("push: one task, 64 tasks, batches of 100 (one task, one on its own thread, two tasks)")
        let producer = SpoolProducer(client: client, logger: logger)
        let queue = try QueueName("bench.push")
        try await flush()

        let single = sizes.singlePushes
        var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        let singleRate = try await measureRate(count: single) {
            for index in 0..<single {
                let start = clock.now
                try await producer.push(Tick(n: index), to: queue)
                _ = latencies.record(UInt64((clock.now - start).nanoseconds))
            }
        }
        report.add("push, 1 task", singleRate, unit: "jobs/s", ceiling: ceilings?.single.rate,
                   ceilingSource: "redis-benchmark XADD -c 1 -P 1")
        report.add("push, 1 task, latency p50", Double(latencies.valueAtPercentile(50)) / 1000, unit: "µs",
                   ceiling: ceilings?.single.p50Milliseconds.map { $0 * 1000 }, ceilingSource: "redis-benchmark -c 1 -P 1 p50",
                   target: .below(100))
        report.add("push, 1 task, latency p99", Double(latencies.valueAtPercentile(99)) / 1000, unit: "µs",
                   ceiling: ceilings?.single.p99Milliseconds.map { $0 * 1000 }, ceilingSource: "redis-benchmark -c 1 -P 1 p99")
        try await flush()

        let jobs = sizes.pushJobs
        let concurrentRate = try await measureRate(count: jobs) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<64 {
                    group.addTask {
                        for index in stride(from: task, to: jobs, by: 64) {
                            try await producer.push(Tick(n: index), to: queue)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        report.add("push, 64 tasks", concurrentRate, unit: "jobs/s", ceiling: ceilings?.concurrent.rate,
                   ceilingSource: "redis-benchmark XADD -c 50 -P 1", target: .atLeast(150_000))
        try await flush()

        let batchRate = try await measureRate(count: jobs / 100 * 100) {
            try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        }
        report.add("push, batches of 100", batchRate, unit: "jobs/s", ceiling: ceilings?.pipelined.rate,
                   ceilingSource: "redis-benchmark XADD -c 1 -P 64", target: .atLeast(400_000))
        // the same rate against Redis adding the very same entries, 100 per pipeline: what is
        // left between the two is the client's
        report.add("push, batches of 100, vs its own entries", batchRate, unit: "jobs/s", ceiling: ceilings?.entryPipelined.rate,
                   ceilingSource: "redis-benchmark -c 1 -P 100, XADD of a Tick entry")
        try await flush()

        // the same from a producer on a thread of its own (`SpoolProducer.withDedicatedThread`, its
        // default busy poll): no connection thread, and no pool thread woken for each reply
        let ownThreadRate = try await SpoolProducer.withDedicatedThread(client: client, logger: logger) { producer in
            // its connection made and the queue registered before the clock starts, as the shared one's
            try await warmedBatchRate(jobs: jobs, producer: producer, queue: queue)
        }
        report.add("push, batches of 100, own thread", ownThreadRate, unit: "jobs/s", ceiling: ceilings?.pipelined.rate,
                   ceilingSource: "redis-benchmark XADD -c 1 -P 64", target: .atLeast(400_000))
        try await flush()

        // two tasks, so that one batch is encoded while Redis adds the other: one task's
        // batches go one after the other, and the producer's and Redis's costs add up
        let twoTaskRate = try await measureRate(count: jobs / 100 * 100) {
            try await pushTicksInBatches(jobs: jobs, tasks: 2, producer: producer, queue: queue)
        }
        report.add("push, batches of 100, 2 tasks", twoTaskRate, unit: "jobs/s", ceiling: ceilings?.pipelined.rate,
                   ceilingSource: "redis-benchmark XADD -c 1 -P 64")
        try await flush()
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
