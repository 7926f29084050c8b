import ArgumentParser
import CMallocCounter
import Foundation
import CoreMetrics
import Logging
import Prometheus
import ServiceLifecycle
import Spool
import SpoolRedis
import Synchronization

/// `spool-bench queue`: push and process throughput of the queue itself.
struct QueueBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Push (one task, 64 tasks, batches of 100) and process (no-op handler, concurrency 32 unless --concurrency, dedup on) rates."
    )

    @Option(help: "Jobs per measurement (the single-task push uses a fifth of it).")
    var jobs = 100_000

    @Option(help: "Use this Redis instead of starting a private one (TCP only).")
    var redis: String?

    @Option(help: "Handler slots of the worker that processes (1 or more).")
    var concurrency = 32

    @Option(help: "Jobs the processing worker may read ahead of its free slots (SpoolWorker.SubscriptionOptions.prefetch; default 0).")
    var prefetch = 0

    @Flag(help: "Only measure processing; also prints the CPU time per job of this process (the worker) and of Redis, and this process's heap allocations per job.")
    var processOnly = false

    @Flag(help: "Run the processing worker on a thread of its own (SpoolWorker.Configuration.dedicatedThread); with --batch-only, push from one (SpoolProducer.withDedicatedThread).")
    var dedicatedThread = false

    @Option(help: "With --dedicated-thread: microseconds the worker's (or, with --batch-only, the producer's) thread polls for replies before it sleeps (SpoolWorker.Configuration.busyPoll, default 100; SpoolProducer.defaultBusyPoll, 250; 0 turns it off).")
    var busyPoll: Int?

    @Flag(help: "Each processed job's handler makes one tiny Redis write (INCR), as in the peers' comparison, instead of nothing.")
    var handlerWrites = false

    @Flag(help: "Only measure the batch push (batches of 100); also prints the CPU time per job of this process (the producer) and of Redis, and this process's heap allocations per job.")
    var batchOnly = false

    @Option(help: "With --batch-only: tasks pushing batches at once, so that as many batches can be in flight.")
    var batchTasks = 1

    @Option(help: "Shared connections of the client that pushes and processes (RedisConfiguration.poolSize).")
    var poolSize = 1

    @Flag(help: "Only measure processing, metrics off vs on (a Prometheus registry), alternating, 3 rounds each.")
    var metrics = false

    @Flag(help: "Only measure what a push adds to a raw XADD of the same bytes: one task alternates the two, p50 of each.")
    var pushOverhead = false

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard (0...SpoolWorker.SubscriptionOptions.maxPrefetch).contains(prefetch) else {
            throw ValidationError("--prefetch must be 0...\(SpoolWorker.SubscriptionOptions.maxPrefetch)")
        }
        guard batchTasks >= 1 else { throw ValidationError("--batch-tasks must be at least 1") }
        guard batchTasks == 1 || batchOnly else { throw ValidationError("--batch-tasks goes with --batch-only") }
        guard (0...10_000).contains(busyPoll ?? 0) else { throw ValidationError("--busy-poll must be 0...10000 (µs)") }
        guard busyPoll == nil || dedicatedThread else { throw ValidationError("--busy-poll goes with --dedicated-thread") }
        guard poolSize >= 1 else { throw ValidationError("--pool-size must be at least 1") }
    }

    func run() async throws {
        let server = try await BenchServer.start(url: redis)
        var configuration = server.configuration
        configuration.poolSize = poolSize
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        let logger = Logger(label: "spool.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let producer = SpoolProducer(client: client, logger: logger)
        let jobs = self.jobs
        print("Spool queue, \(jobs) jobs per measurement, Redis at \(client.redactedAddress)")

        if metrics {
            try await compareMetrics(jobs: jobs, client: client, producer: producer, logger: logger)
            await server.shutdown()
            return
        }
        if pushOverhead {
            try await measurePushOverhead(client: client, producer: producer)
            await server.shutdown()
            return
        }
        if batchOnly {
            let queue = try QueueName("bench.push")
            let busyPoll = self.busyPoll.map { Duration.microseconds($0) } ?? SpoolProducer.defaultBusyPoll
            let batchTasks = self.batchTasks
            // both ways, the counters start once the producer's connection is open and the
            // queue registered (and, on its own thread, once the thread runs)
            var cpuStart = 0.0
            var redisCPUStart = 0.0
            var allocationsStart: UInt64 = 0
            func clockStarts() async throws {
                cpuStart = ProcessStatus.cpuSeconds()
                redisCPUStart = try await redisCPUSeconds(client)
                allocationsStart = spool_bench_process_allocations()
            }
            let rate: Double
            if dedicatedThread {
                rate = try await SpoolProducer.withDedicatedThread(client: client, busyPoll: busyPoll, logger: logger) { producer in
                    try await warmedBatchRate(jobs: jobs, tasks: batchTasks, producer: producer, queue: queue, clockStarts: clockStarts)
                }
            } else {
                rate = try await warmedBatchRate(jobs: jobs, tasks: batchTasks, producer: producer, queue: queue, clockStarts: clockStarts)
            }
            let allocations = Double(spool_bench_process_allocations() - allocationsStart) / Double(jobs / 100 * 100)
            let cpu = (ProcessStatus.cpuSeconds() - cpuStart) / Double(jobs / 100 * 100) * 1e6
            let redisCPU = (try await redisCPUSeconds(client) - redisCPUStart) / Double(jobs / 100 * 100) * 1e6
            print(line("push, batches of 100\(batchTasks > 1 ? ", \(batchTasks) tasks" : "")\(dedicatedThread ? ", own thread" : "")", rate,
                       extra: "CPU/job: producer \(String(format: "%.2f", cpu)) µs, Redis \(String(format: "%.2f", redisCPU)) µs; allocations/job \(String(format: "%.1f", allocations))"))
            _ = try await client.send("DEL", QueueKeys(queue: queue).stream)
            await server.shutdown()
            return
        }
        if processOnly {
            let run = try await process(jobs: jobs, client: client, producer: producer, logger: logger)
            print(line("process, 1 worker\(dedicatedThread ? " (own thread)" : ""), concurrency \(concurrency)\(prefetch > 0 ? ", prefetch \(prefetch)" : ""), dedup on\(handlerWrites ? ", INCR per job" : "")", run.rate,
                       extra: "CPU/job: worker \(String(format: "%.1f", run.cpuPerJob)) µs, Redis \(String(format: "%.1f", run.redisCPUPerJob)) µs; allocations/job \(String(format: "%.1f", run.allocationsPerJob))"))
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
            try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        }
        print(line("push, batches of 100", batchRate))
        _ = try await client.send("DEL", QueueKeys(queue: queue).stream)

        let processRate = try await process(jobs: jobs, client: client, producer: producer, logger: logger).rate
        print(line("process, 1 worker, concurrency \(concurrency), dedup on", processRate))
        await server.shutdown()
    }

    /// Processing with the no-op metrics factory vs a Prometheus one, alternating rounds so
    /// both see the same machine state; prints the medians and their ratio.
    private func compareMetrics(jobs: Int, client: RedisClient, producer: SpoolProducer, logger: Logger) async throws {
        var off: [(rate: Double, cpuPerJob: Double, redisCPUPerJob: Double, allocationsPerJob: Double)] = []
        var on: [(rate: Double, cpuPerJob: Double, redisCPUPerJob: Double, allocationsPerJob: Double)] = []
        for round in 0..<3 {
            off.append(try await process(
                jobs: jobs, client: client, producer: producer, logger: logger,
                queueName: "bench.metrics-off.\(round)", metricsFactory: NOOPMetricsHandler.instance
            ))
            let registry = PrometheusCollectorRegistry()
            on.append(try await process(
                jobs: jobs, client: client, producer: producer, logger: logger,
                queueName: "bench.metrics-on.\(round)", metricsFactory: PrometheusMetricsFactory(registry: registry)
            ))
            _ = registry.emitToBuffer()   // a scrape, so the series are really there
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let rateOff = median(off.map(\.rate)), rateOn = median(on.map(\.rate))
        let cpuOff = median(off.map(\.cpuPerJob)), cpuOn = median(on.map(\.cpuPerJob))
        func rounds(_ runs: [(rate: Double, cpuPerJob: Double, redisCPUPerJob: Double, allocationsPerJob: Double)]) -> String {
            runs.map { "\(Int($0.rate))/s \(String(format: "%.1f", $0.cpuPerJob)) µs" }.joined(separator: ", ")
        }
        print(line("process, metrics off (median of 3)", rateOff, extra: "\(String(format: "%.1f", cpuOff)) µs CPU/job  [\(rounds(off))]"))
        print(line("process, Prometheus metrics (median of 3)", rateOn, extra: "\(String(format: "%.1f", cpuOn)) µs CPU/job  [\(rounds(on))]"))
        print("  on/off: throughput \(String(format: "%.3f", rateOn / rateOff)), CPU per job \(String(format: "%.3f", cpuOn / cpuOff))")
    }

    /// One task alternates a raw `client.send` of a prepared XADD (the same envelope bytes)
    /// and `producer.push(Tick)`, so both see the same machine state; prints each p50 and
    /// the difference, Spool's own cost on a push's critical path.
    private func measurePushOverhead(client: RedisClient, producer: SpoolProducer) async throws {
        let queue = try QueueName("bench.push")
        let keys = QueueKeys(queue: queue)
        var raw = RedisCommand("XADD", keys.stream, "*")
        try JobEnvelope.make(Tick(n: 1)).encodeFields(into: &raw)
        let rounds = max(1, jobs / 5)
        var rawTimes: [Duration] = []
        var pushTimes: [Duration] = []
        rawTimes.reserveCapacity(rounds)
        pushTimes.reserveCapacity(rounds)
        let clock = ContinuousClock()
        for index in 0..<(rounds + rounds / 20) {
            let start = clock.now
            _ = try await client.send(raw)
            let middle = clock.now
            try await producer.push(Tick(n: index), to: queue)
            let end = clock.now
            // the first twentieth warms up
            if index >= rounds / 20 {
                rawTimes.append(middle - start)
                pushTimes.append(end - middle)
            }
        }
        rawTimes.sort()
        pushTimes.sort()
        let rawP50 = micros(rawTimes[rawTimes.count / 2])
        let pushP50 = micros(pushTimes[pushTimes.count / 2])
        print("  raw XADD of the same bytes, one task            p50 \(rawP50) µs")
        print("  producer.push(Tick), one task, alternated       p50 \(pushP50) µs  (+\(pushP50 - rawP50) µs)")
        _ = try await client.send("DEL", keys.stream)
    }

    /// Enqueues `jobs`, then times one worker draining them.
    private func process(
        jobs: Int, client: RedisClient, producer: SpoolProducer, logger: Logger,
        queueName: String = "bench.process", metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) async throws -> (rate: Double, cpuPerJob: Double, redisCPUPerJob: Double, allocationsPerJob: Double) {
        let queue = try QueueName(queueName)
        let keys = QueueKeys(queue: queue)
        _ = try await client.send("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
        try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        let processed = Atomic<Int>(0)
        var configuration = SpoolWorker.Configuration()
        configuration.consumerName = "bench"
        configuration.dedicatedThread = dedicatedThread
        if let busyPoll { configuration.busyPoll = .microseconds(busyPoll) }
        var worker = SpoolWorker(client: client, configuration: configuration, logger: logger, metricsFactory: metricsFactory)
        worker.subscribe(queue: queue, options: .init(concurrency: concurrency, prefetch: prefetch))
        let writes = handlerWrites
        worker.register(Tick.self, queue: queue) { _, _ in
            if writes { _ = try await client.send("INCR", "bench.handler.writes") }
            processed.add(1, ordering: .relaxed)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = ProcessStatus.cpuSeconds()
        let redisCPUStart = try await redisCPUSeconds(client)
        let allocationsStart = spool_bench_process_allocations()
        var allocations: UInt64 = 0
        var cpu = 0.0
        var redisCPU = 0.0
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
            cpu = ProcessStatus.cpuSeconds() - cpuStart
            allocations = spool_bench_process_allocations() - allocationsStart
            redisCPU = try await redisCPUSeconds(client) - redisCPUStart
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        _ = try await client.send("DEL", keys.stream, keys.done(.default))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // this process (client and worker) and Redis apart; the ZCARD polls count in both
        return (Double(jobs) / seconds, cpu / Double(jobs) * 1e6, redisCPU / Double(jobs) * 1e6, Double(allocations) / Double(jobs))
    }

    /// Redis's own CPU time so far (user + system, from `INFO cpu`).
    private func redisCPUSeconds(_ client: RedisClient) async throws -> Double {
        let info = try await client.send("INFO", "cpu").string ?? ""
        var total = 0.0
        for line in info.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0] == "used_cpu_user" || parts[0] == "used_cpu_sys" {
                total += Double(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return total
    }

    private func line(_ what: String, _ rate: Double, extra: String = "") -> String {
        let label = what.padding(toLength: 46, withPad: " ", startingAt: 0)
        return "  \(label) \(Int(rate.rounded()))/s  \(extra)"
    }

    private func micros(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
    }
}
