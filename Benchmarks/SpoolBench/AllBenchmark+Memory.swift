import Foundation
import Spool
import SpoolRedis

extension BenchContext {
    /// Redis memory per queued 100-byte job beyond its payload: Spool's envelope, and a raw
    /// XADD of a single 100-byte field as the ceiling.
    func measureMemory(into report: inout BenchReport) async throws {
        let jobs = sizes.memoryJobs / 100 * 100
        let payloadSize = 100
        print("Redis memory: \(jobs) queued jobs of \(payloadSize) bytes")
        let payload = Array(repeating: UInt8(ascii: "x"), count: payloadSize)

        try await flush()
        var before = try await usedMemory()
        let raw = RedisCommand("XADD", "bench:memory", "*", "payload", String(decoding: payload, as: UTF8.self))
        let batch = Array(repeating: raw, count: 100)
        for _ in 0..<(jobs / 100) {
            _ = try await client.pipeline(batch)
        }
        let rawPerJob = Double(try await usedMemory() - before) / Double(jobs) - Double(payloadSize)

        try await flush()
        before = try await usedMemory()
        let producer = SpoolProducer(client: client, logger: logger)
        let queue = try QueueName("bench.memory")
        for _ in 0..<(jobs / 100) {
            let envelopes = (0..<100).map { _ in JobEnvelope(type: "tick", payload: payload) }
            try await producer.push(envelopes, to: queue)
        }
        let spoolPerJob = Double(try await usedMemory() - before) / Double(jobs) - Double(payloadSize)
        report.add("Redis memory per queued 100-byte job", spoolPerJob, unit: "bytes", ceiling: rawPerJob,
                   ceilingSource: "XADD of one 100-byte field", target: .atMost(200),
                   note: "used_memory delta ÷ jobs − payload")
        try await flush()
    }

    /// The `spool worker` binary with an exec handler (`/bin/true`): the cost of one process
    /// per job. Jobs are queued first; the rate counts from the first completion.
    func measureExecHandler(binary: String, into report: inout BenchReport) async throws {
        // ArgumentParser answers `spool worker --help` with the root help when `worker` is
        // unknown, so look for it in the list of subcommands instead
        let help = FileManager.default.isExecutableFile(atPath: binary) ? Self.output(of: binary, ["--help"]) : ""
        guard help.split(separator: "\n").contains(where: { $0.hasPrefix("  worker ") }) else {
            print("process-per-job (spool worker, exec /bin/true): skipped: spool worker not built")
            report.add("process, spool worker exec /bin/true", nil, unit: "jobs/s", note: "skipped: spool worker not built")
            return
        }
        let jobs = max(100, sizes.processJobs / 50) / 100 * 100
        // without spool-exec beside it the worker starts each job through the spool binary
        let trampoline = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("spool-exec").path
        let fallback = FileManager.default.isExecutableFile(atPath: trampoline)
            ? "" : " (spool-exec missing: the spool binary is the trampoline)"
        print("process-per-job: \(jobs) jobs, spool worker --exec /bin/true, concurrency 8\(fallback)")
        try await flush()
        let queue = try QueueName("bench.exec")
        let keys = QueueKeys(queue: queue)
        _ = try await client.send("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
        let producer = SpoolProducer(client: client, logger: logger)
        try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: binary)
        worker.arguments = [
            "worker", "--redis", "redis://\(server.host):\(server.port)", "--queue", queue.rawValue,
            "--concurrency", "8", "--log-level", "error", "--exec", "/bin/true",
        ]
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        defer {
            if worker.isRunning { kill(worker.processIdentifier, SIGKILL) }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(300)
        var first: (count: Int, at: ContinuousClock.Instant)?
        var done = 0
        while done < jobs {
            done = try await completed(keys)
            if first == nil && done > 0 { first = (done, clock.now) }
            if clock.now > deadline { throw BenchError("spool worker did not finish \(jobs) exec jobs in 300 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
        let end = clock.now
        kill(worker.processIdentifier, SIGTERM)
        while worker.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let rate = first.map { Double(jobs - $0.count) / (end - $0.at).seconds } ?? 0
        report.add("process, spool worker exec /bin/true", rate, unit: "jobs/s",
                   note: "one /bin/true process per job, concurrency 8" + fallback)
        try await flush()
    }

    private static func output(of binary: String, _ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
