import Foundation
import SpoolTesting
import Testing

/// A process that can start no more threads (a container at its pids limit, a user at
/// `ulimit -u`): Spool reports it and goes on, where it used to stop the process. Run in a
/// child, `spool-test-worker thread-limit` (Sources/SpoolTestWorker/ThreadLimitCheck.swift),
/// since the limit holds for the whole process.
@Suite(.timeLimit(.minutes(2)))
struct ThreadLimitTests {
    @Test("a connection without a thread fails its commands in words and works once threads can start; a worker or producer meant for a thread of its own runs on the shared pool")
    func noThreadLeft() async throws {
        try await withRedisServer { server in
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let binary = URL(fileURLWithPath: try SpoolProcess.binary()).deletingLastPathComponent()
                .appendingPathComponent("spool-test-worker").path
            let child = try ChildProgram(
                executable: binary, arguments: ["thread-limit", server.url], directory: directory,
                environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") },
                stdinPath: nil, stdoutPath: directory + "/out", stderrPath: directory + "/out"
            )
            defer { if child.exitStatus == nil { kill(child.pid, SIGKILL); _ = child.exitStatus } }
            // bounded: a check that hangs (the runtime waiting for a thread) fails here
            try await waitUntil("the check ends", within: .seconds(60)) { child.exitStatus != nil }
            let text = (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").map(String.init)
            #expect(child.exitStatus == 0, "status \(child.exitStatus.map { "\($0)" } ?? "-"): \(text)")
            let refused = lines.first { $0.hasPrefix("step 1: ") } ?? ""
            #expect(refused.contains("connection failed: no thread could be started for this connection (Resource temporarily unavailable: "
                + "the process is at a limit of threads"), "\(text)")
            #expect(lines.contains("step 2: PONG"), "\(text)")
            #expect(lines.contains { $0.hasPrefix("log warning: the worker runs on the shared task pool: no thread of its own") }, "\(text)")
            #expect(lines.contains("step 3: the job ran"), "\(text)")
            #expect(lines.contains { $0.hasPrefix("log warning: the producer runs on the shared task pool: no thread of its own") }, "\(text)")
            #expect(lines.contains("step 4: pushed the job"), "\(text)")
        }
    }
}
