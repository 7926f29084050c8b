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
