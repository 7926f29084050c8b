import Foundation
import SpoolTesting
import Testing

/// The private redis-servers that `spool` started for a test directory, found through /proc
/// rather than through `spool`, so a test can count them, and stop them whatever `spool` does.
enum PrivateServers {
    /// Live `redis-server` processes whose working directory is `directory/.spool`.
    static func running(in directory: String) -> [Int32] {
        let spool = realPath(directory + "/.spool")
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
            return comm.hasPrefix("redis-server") && cwd == spool && !processEnded(pid)
        }.sorted()
    }

    /// The pid in `directory/.spool/redis.pid`.
    /// Runs `spool redis start` in `directory`, expects it to succeed, and returns the pid it wrote.
    static func start(in directory: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Int32 {
        let start = try await SpoolProcess.run(["redis", "start"], in: directory)
        #expect(start.status == 0, "\(start.stderr)", sourceLocation: sourceLocation)
        return try pidFile(in: directory)
    }

    static func pidFile(in directory: String) throws -> Int32 {
        let text = try String(contentsOfFile: "\(directory)/.spool/redis.pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("\(directory)/.spool/redis.pid holds \(text.debugDescription), not a pid")
        }
        return pid
    }

    /// Runs `body` with a new temp directory; then stops every private server started there
    /// (``stopAll(in:)``) and removes the directory.
    static func inTempDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = try TempDirectory.make()
        defer {
            stopAll(in: directory)
            try? FileManager.default.removeItem(atPath: directory)
        }
        try await body(directory)
    }

    /// Wakes (SIGCONT) and stops (SIGTERM) each of them, waiting up to 30 s for each to end:
    /// a test's cleanup.
    static func stopAll(in directory: String) {
        for pid in running(in: directory) {
            kill(pid, SIGTERM)
            kill(pid, SIGCONT)
            let deadline = ContinuousClock.now + .seconds(30)
            while !processEnded(pid) && ContinuousClock.now < deadline { usleep(20_000) }
        }
    }

    private static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
