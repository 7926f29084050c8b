import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolRedis
import Synchronization

/// `spool-bench queue`: push and process throughput of the queue itself.
struct QueueBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Push (one task, 64 tasks, batches of 100) and process (no-op handler, concurrency 32, dedup on) rates."
    )

    @Option(help: "Jobs per measurement (the single-task push uses a fifth of it).")
    var jobs = 100_000

    @Option(help: "Use this Redis instead of starting a private one (TCP only).")
    var redis: String?

    @Flag(help: "Only measure processing.")
    var processOnly = false

    struct Tick: JobParameters {
        static let jobName = "tick"
        let n: Int
    }

    func run() async throws {
        let server = try await BenchServer.start(url: redis)
        let client = RedisClient(configuration: server.configuration)
        defer { client.shutdown() }
        let logger = Logger(label: "spool.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let producer = SpoolProducer(client: client, logger: logger)
        let jobs = self.jobs
        print("Spool queue, \(jobs) jobs per measurement, Redis at \(client.redactedAddress)")

        if processOnly {
            let processRate = try await process(jobs: jobs, client: client, producer: producer, logger: logger)
            print(line("process, 1 worker, concurrency 32, dedup on", processRate))
            await server.shutdown()
            return
        }
        let queue = try QueueName("bench.push")
        let single = jobs / 5
        var latencies: [Duration] = []
        latencies.reserveCapacity(single)
        let clock = ContinuousClock()
        let singleRate = try await measureRate(count: single) {
            for index in 0..<single {
                let start = clock.now
                try await producer.push(Tick(n: index), to: queue)
                latencies.append(clock.now - start)
            }
        }
        latencies.sort()
        print(line("push, one task", singleRate, extra: "p50 \(micros(latencies[latencies.count / 2])) µs, p99 \(micros(latencies[latencies.count * 99 / 100])) µs"))
        _ = try await client.send("DEL", QueueKeys(queue: queue).stream)

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
        print(line("push, 64 concurrent tasks", concurrentRate))
        _ = try await client.send("DEL", QueueKeys(queue: queue).stream)

        let batchRate = try await measureRate(count: jobs / 100 * 100) {
            for batch in 0..<(jobs / 100) {
                try await producer.push((0..<100).map { Tick(n: batch * 100 + $0) }, to: queue)
            }
        }
        print(line("push, batches of 100", batchRate))
        _ = try await client.send("DEL", QueueKeys(queue: queue).stream)

        let processRate = try await process(jobs: jobs, client: client, producer: producer, logger: logger)
        print(line("process, 1 worker, concurrency 32, dedup on", processRate))
        await server.shutdown()
    }

    /// Enqueues `jobs`, then times one worker draining them.
    private func process(jobs: Int, client: RedisClient, producer: SpoolProducer, logger: Logger) async throws -> Double {
        let queue = try QueueName("bench.process")
        let keys = QueueKeys(queue: queue)
        _ = try await client.send("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
        for batch in 0..<(jobs / 100) {
            try await producer.push((0..<100).map { Tick(n: batch * 100 + $0) }, to: queue)
        }
        let processed = Atomic<Int>(0)
        var configuration = SpoolWorker.Configuration()
        configuration.consumerName = "bench"
        var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
        worker.subscribe(queue: queue, options: .init(concurrency: 32))
        worker.register(Tick.self, queue: queue) { _, _ in
            processed.add(1, ordering: .relaxed)
        }
        let clock = ContinuousClock()
        let start = clock.now
        var elapsed = Duration.zero
        try await withThrowingTaskGroup(of: Void.self) { group in
            let serviceGroup = ServiceGroup(services: [worker], logger: logger)
            group.addTask { try await serviceGroup.run() }
            // wait until every job is acknowledged (its completion recorded in Redis)
            while true {
                let done = try await client.send("ZCARD", keys.done(.default)).int ?? 0
                if done >= jobs { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            elapsed = clock.now - start
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        return Double(jobs) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    private func line(_ what: String, _ rate: Double, extra: String = "") -> String {
        let label = what.padding(toLength: 46, withPad: " ", startingAt: 0)
        return "  \(label) \(Int(rate.rounded()))/s  \(extra)"
    }

    private func micros(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
    }
}
