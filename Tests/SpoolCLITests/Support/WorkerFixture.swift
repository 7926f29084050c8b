import Foundation
import SpoolTesting

/// A temp directory with handler scripts, and helpers to run `spool worker`/`enqueue` in it.
/// The directory is removed when the fixture goes away.
final class WorkerFixture: Sendable {
    let server: RedisServer
    let directory: String

    init(server: RedisServer) throws {
        self.server = server
        self.directory = try TempDirectory.make()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func script(_ name: String, _ body: String) throws -> String {
        try TempDirectory.script(directory, name, "#!/bin/bash\n" + body)
    }

    /// Starts `spool worker --redis URL --queue Q <flags> --exec <argv>` (its stderr to
    /// `stderrDescriptor` when given, else to a file).
    func worker(queue: String, _ flags: [String] = [], exec argv: [String], stderrDescriptor: Int32? = nil) throws -> SpoolProcess {
        try SpoolProcess.start(
            ["worker", "--redis", server.url, "--queue", queue, "--log-level", "debug"] + flags + ["--exec"] + argv,
            in: directory, stderrDescriptor: stderrDescriptor
        )
    }

    /// Writes `yaml` as `spool.yml` in the directory and starts `spool worker --redis URL
    /// --config spool.yml` there.
    func worker(config yaml: String) throws -> SpoolProcess {
        try yaml.write(toFile: "\(directory)/spool.yml", atomically: false, encoding: .utf8)
        return try SpoolProcess.start(["worker", "--redis", server.url, "--config", "spool.yml"], in: directory)
    }

    /// Enqueues one job and returns its id.
    func enqueue(_ queue: String, _ flags: [String] = [], data: String = "{}") async throws -> String {
        let result = try await SpoolProcess.run(["enqueue", queue, "--redis", server.url, "--data", data] + flags, in: directory)
        guard result.status == 0 else { throw TestFailure("enqueue failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A script that starts `sleep 300` in the background, writes its pid to `child.pid` in
    /// the directory given as its first argument (read it with ``pid(_:)``), and waits.
    func sleeperScript() throws -> String {
        try script("sleeper.sh", """
            sleep 300 &
            echo $! > "$1/child.tmp"; mv "$1/child.tmp" "$1/child.pid"
            wait
            """)
    }

    /// The pid written to file `name`, or `nil` before it is.
    func pid(_ name: String) -> Int32? {
        Int32(read(name).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: "\(directory)/\(name)", encoding: .utf8)) ?? ""
    }
}

/// `spool worker --config spool.yml <flags>` with `yaml` as that file, in a directory of its
/// own, against a port where no Redis listens (the file and the flags are checked before any
/// connection).
func workerWithConfig(_ yaml: String, flags: [String] = []) async throws -> RunResult {
    let directory = try TempDirectory.make()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try yaml.write(toFile: "\(directory)/spool.yml", atomically: false, encoding: .utf8)
    return try await SpoolProcess.run(["worker", "--redis", "redis://127.0.0.1:1", "--config", "spool.yml"] + flags, in: directory)
}
