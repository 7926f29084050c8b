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

    /// The `spool worker` binary with an exec handler: measured once the CLI has the subcommand.
    func measureExecHandler(binary: String, into report: inout BenchReport) {
        // ArgumentParser answers `spool worker --help` with the root help when `worker` is
        // unknown, so look for it in the list of subcommands instead
        let help = FileManager.default.isExecutableFile(atPath: binary) ? Self.output(of: binary, ["--help"]) : ""
        let hasWorker = help.split(separator: "\n").contains { $0.hasPrefix("  worker ") }
        let note = hasWorker
            ? "skipped: spool worker found, but this benchmark does not drive it yet"
            : "skipped: spool worker not built"
        print("process-per-job (spool worker, exec /bin/true): \(note)")
        report.add("process, spool worker exec /bin/true", nil, unit: "jobs/s", note: note)
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
