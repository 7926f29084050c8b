import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolRedis
import Synchronization

extension BenchContext {
    static let processQueue = "bench.process"

    /// Enqueues the jobs (in batches, before any worker runs) with the group reading from the start.
    func enqueueForProcessing(_ jobs: Int) async throws -> QueueKeys {
        let queue = try QueueName(Self.processQueue)
        let keys = QueueKeys(queue: queue)
        let producer = SpoolProducer(client: client, logger: logger)
        _ = try await client.send("XGROUP", "CREATE", keys.stream, GroupName.default.rawValue, "0", "MKSTREAM")
        try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        return keys
    }

    /// How many jobs the default group completed: the size of its dedup set.
    func completed(_ keys: QueueKeys) async throws -> Int {
        try await client.send("ZCARD", keys.done(.default)).int ?? 0
    }

    /// One in-process `SpoolWorker` (concurrency 32, dedup on) draining no-op jobs, on the
    /// shared pool, on a thread of its own, and on its own thread reading 32 jobs ahead
    /// (`prefetch`, still 32 handlers at most); then the same on the shared pool with a
    /// handler that makes one tiny Redis write (`INCR`), the workload of the peers' figures
    /// in #8; then Redis memory per dedup entry, from deleting the dedup set.
    func measureProcessing(ceilings: Ceilings?, into report: inout BenchReport) async throws {
        let jobs = sizes.processJobs / 100 * 100
        for (dedicatedThread, writes, prefetch) in [(false, false, 0), (true, false, 0), (true, false, 32), (false, true, 0)] {
            let how = (dedicatedThread ? "its own thread" : "the shared pool") + (prefetch > 0 ? ", prefetch \(prefetch)" : "")
            print("process: \(jobs) \(writes ? "jobs that INCR a key" : "no-op jobs"), one SpoolWorker on \(how), concurrency 32, dedup on")
            try await flush()
            let keys = try await enqueueForProcessing(jobs)
            var configuration = SpoolWorker.Configuration()
            configuration.consumerName = "bench"
            configuration.dedicatedThread = dedicatedThread
            var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
            worker.subscribe(queue: keys.queue, options: .init(concurrency: 32, prefetch: prefetch))
            let client = self.client
            worker.register(Tick.self, queue: keys.queue) { _, _ in
                if writes { _ = try await client.send("INCR", "bench.handler.writes") }
            }
            // done when every job is acknowledged (its completion recorded in the dedup set)
            let elapsed = try await runWorker(worker, logger: logger) { try await completed(keys) >= jobs }
            let rate = Double(jobs) / elapsed.seconds
            if writes {
                report.add("process, 1 worker, INCR/job (c=32, dedup)", rate, unit: "jobs/s",
                           ceiling: ceilings?.lifecycle, ceilingSource: ceilings?.lifecycleSource,
                           note: "each handler makes one tiny Redis write, as in the peers' figures")
                continue
            }
            if prefetch > 0 {
                report.add("process, 1 worker, own thread, prefetch \(prefetch) (c=32, dedup)", rate, unit: "jobs/s",
                           ceiling: ceilings?.lifecycle, ceilingSource: ceilings?.lifecycleSource, target: .atLeast(60_000),
                           note: "reads \(prefetch) jobs ahead of its free slots; 32 handlers at most")
                report.add("process, own thread + prefetch ÷ lifecycle ceiling", ceilings.map { rate / $0.lifecycle }, unit: "×",
                           target: .atLeast(0.5))
                continue
            }
            let label = dedicatedThread ? "process, 1 worker, own thread" : "process, 1 worker"
            report.add(dedicatedThread ? "\(label) (c=32, dedup)" : "\(label) (in-process, c=32, dedup)", rate, unit: "jobs/s",
                       ceiling: ceilings?.lifecycle, ceilingSource: ceilings?.lifecycleSource, target: .atLeast(60_000))
            report.add(dedicatedThread ? "process, own thread ÷ lifecycle ceiling" : "process, 1 worker ÷ lifecycle ceiling",
                       ceilings.map { rate / $0.lifecycle }, unit: "×", target: .atLeast(0.5))
            // the dedup set of the own-thread run: no-op jobs, each completed once
            if dedicatedThread { try await measureDedupEntry(keys, into: &report) }
        }
    }

    /// Redis memory per dedup entry: the `used_memory` drop on deleting a group's done set.
    private func measureDedupEntry(_ keys: QueueKeys, into report: inout BenchReport) async throws {
        let entries = try await completed(keys)
        let before = try await usedMemory()
        _ = try await client.send("DEL", keys.done(.default))
        let after = try await usedMemory()
        report.add("Redis memory per dedup entry", Double(before - after) / Double(max(entries, 1)), unit: "bytes",
                   note: "used_memory drop on DEL of a \(entries)-entry done set")
        try await flush()
    }

    /// Two `spool-test-worker` processes (noop mode, 16 handlers each) draining no-op jobs,
    /// and a worker process's RSS idle and under that load.
    func measureTwoProcesses(binary: String, ceilings: Ceilings?, into report: inout BenchReport) async throws {
        let jobs = sizes.processJobs / 100 * 100
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("two worker processes: skipped, \(binary) not built")
            report.add("process, 2 worker processes", nil, unit: "jobs/s", note: "skipped: spool-test-worker not built")
            return
        }
        print("process: \(jobs) no-op jobs, two spool-test-worker processes; worker RSS")
        try await flush()
        let url = "redis://\(server.host):\(server.port)"

        // idle: one worker subscribed to an empty queue
        let idle = try WorkerProcess(binary: binary, url: url, queue: "bench.idle", name: "idle")
        try await Task.sleep(for: .seconds(1))
        let idleRSS = ProcessStatus.megabytes("VmRSS", pid: idle.pid)
        await idle.stop()
        report.add("worker process RSS, idle", idleRSS, unit: "MB", target: .below(40),
                   note: "spool-test-worker, 1 s after start")
        try await flush()

        let keys = try await enqueueForProcessing(jobs)
        let workers = [
            try WorkerProcess(binary: binary, url: url, queue: keys.queue.rawValue, name: "w1"),
            try WorkerProcess(binary: binary, url: url, queue: keys.queue.rawValue, name: "w2"),
        ]
        // time from the first completion (process start-up excluded) to the last
        let clock = ContinuousClock()
        var first: (count: Int, at: ContinuousClock.Instant)?
        var peakRSS = 0.0
        var done = 0
        let deadline = clock.now + .seconds(300)
        while done < jobs {
            done = try await completed(keys)
            if first == nil && done > 0 { first = (done, clock.now) }
            for worker in workers {
                peakRSS = max(peakRSS, ProcessStatus.megabytes("VmRSS", pid: worker.pid) ?? 0)
            }
            if clock.now > deadline { throw BenchError("two worker processes did not finish \(jobs) jobs in 300 s") }
            try await Task.sleep(for: .milliseconds(2))
        }
        let end = clock.now
        for worker in workers {
            peakRSS = max(peakRSS, ProcessStatus.megabytes("VmHWM", pid: worker.pid) ?? 0)
        }
        for worker in workers { await worker.stop() }
        let rate = first.map { Double(jobs - $0.count) / (end - $0.at).seconds } ?? 0
        report.add("process, 2 worker processes (c=16 each)", rate, unit: "jobs/s", ceiling: ceilings?.lifecycle,
                   ceilingSource: ceilings?.lifecycleSource)
        report.add("worker process RSS, under load", peakRSS, unit: "MB", target: .below(80),
                   note: "peak VmHWM of either worker")
        try await flush()
    }
}

/// A `spool-test-worker` child in noop mode.
struct WorkerProcess: Sendable {
    let process: Process
    var pid: Int32 { process.processIdentifier }

    init(binary: String, url: String, queue: String, name: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [url, queue, GroupName.default.rawValue, name, "noop", "/dev/null"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// SIGTERM (graceful shutdown), then waits for it to exit.
    func stop() async {
        process.terminate()
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
