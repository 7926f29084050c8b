import Foundation
import SpoolTesting
import Testing

/// A process that can start no more threads (a container at its pids limit, a user at
/// `ulimit -u`): Spool reports it and goes on, where it used to stop the process. Run in a
/// child, `spool-test-worker thread-limit` (Sources/SpoolTestWorker/ThreadLimitCheck.swift),
/// since the limit holds for the whole process.
@Suite("A process at its limit of threads")
struct ThreadLimitTests {
    @Test("a connection without a thread fails its commands in words and works once threads can start; a worker meant for a thread of its own runs on the shared pool")
    func noThreadLeft() async throws {
        try await withRedisServer { server in
            let process = Process()
            process.executableURL = try TestWorkerProcess.binary()
            process.arguments = ["thread-limit", server.url]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let pid = process.processIdentifier
            // bounded: a check that hangs (the runtime waiting for a thread) fails the test
            let watchdog = Task {
                try await Task.sleep(for: .seconds(60))
                kill(pid, SIGKILL)
            }
            let text = try await runOffThePool {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: data, as: UTF8.self)
            }
            watchdog.cancel()
            let lines = text.split(separator: "\n").map(String.init)
            #expect(process.terminationReason == .exit && process.terminationStatus == 0,
                    "ended with \(process.terminationReason == .exit ? "status" : "signal") \(process.terminationStatus): \(text)")
            let refused = lines.first { $0.hasPrefix("step 1: ") } ?? ""
            #expect(refused.contains("connection failed: no thread could be started for this connection (Resource temporarily unavailable: "
                + "the process is at a limit of threads"), "\(text)")
            #expect(lines.contains("step 2: PONG"), "\(text)")
            #expect(lines.contains { $0.hasPrefix("log warning: the worker runs on the shared task pool: no thread of its own") }, "\(text)")
            #expect(lines.contains("step 3: the job ran"), "\(text)")
        }
    }
}
