import Foundation
import SpoolTesting
import Testing

/// The result of one run of the built `spool` binary.
struct SpoolRun: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    var stderrLines: [Substring] { stderr.split(separator: "\n") }

    /// stdout parsed as one JSON object.
    func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        return try #require(object as? [String: Any], "stdout is not a JSON object: \(stdout)", sourceLocation: sourceLocation)
    }
}

/// Runs the `spool` binary built next to the test bundle, stdin from /dev/null (not a TTY).
func spool(_ arguments: String...) async throws -> SpoolRun {
    try await spool(arguments: arguments)
}

/// Runs the `spool` binary with `arguments`, waiting for it on a thread of its own (see
/// `runOffThePool`).
func spool(arguments: [String], environment extra: [String: String] = [:]) async throws -> SpoolRun {
    try await runOffThePool { try runSpoolBlocking(arguments: arguments, environment: extra) }
}

/// How long `spool(...)` lets a command run.
private let spoolRunLimitSeconds = 120

private func runSpoolBlocking(arguments: [String], environment extra: [String: String]) throws -> SpoolRun {
    let directory = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).deletingLastPathComponent()
    var binary = directory.appendingPathComponent("spool")
    if !FileManager.default.isExecutableFile(atPath: binary.path) {
        binary = directory.deletingLastPathComponent().appendingPathComponent("spool")
    }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spool-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let out = scratch.appendingPathComponent("out")
    let err = scratch.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)

    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SPOOL_REDIS_URL"] = nil
    environment["SPOOL_REDIS_PASSWORD"] = nil
    for (name, value) in extra { environment[name] = value }
    process.environment = environment
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    let ended = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in ended.signal() }
    try process.run()
    // bounded: a command that should refuse and exit, but starts a worker instead, would
    // otherwise hold the test until the suite's own time limit
    if ended.wait(timeout: .now() + .seconds(spoolRunLimitSeconds)) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw TestFailure("spool \(arguments.joined(separator: " ")) ran longer than \(spoolRunLimitSeconds) s and was killed")
    }
    process.waitUntilExit()
    return SpoolRun(
        status: process.terminationStatus,
        stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
        stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self)
    )
}

/// A queue `emails` with groups `default` (one job pending on consumer `c1`, one dead letter)
/// and `audit` (nothing read yet), three jobs in the stream.
enum Seed {
    static let jobs = [
        "0190ff3c-5e4a-7b21-9c3d-4e5f60718291",
        "0190ff3c-5e4a-7b21-9c3d-4e5f60718292",
        "0190ff3c-5e4a-7b21-9c3d-4e5f60718293",
    ]
    static let deadJob = "0190ff3c-5e4a-7b21-9c3d-4e5f607182ff"
    static let stream = "spool:{emails}:stream"

    static func emails(_ server: RedisServer) throws {
        let now = String(Int64(Date().timeIntervalSince1970 * 1000))
        _ = try server.cli("SADD", "spool:queues", "emails")
        for id in jobs {
            _ = try server.cli("XADD", stream, "*", "v", "1", "id", id, "type", "send_email", "payload", "{\"to\":\"a@example.com\"}", "enqueued_at", now, "attempt", "1")
        }
        _ = try server.cli("XGROUP", "CREATE", stream, "default", "0")
        _ = try server.cli("XGROUP", "CREATE", stream, "audit", "0")
        _ = try server.cli("XREADGROUP", "GROUP", "default", "c1", "COUNT", "1", "STREAMS", stream, ">")
        _ = try server.cli(
            "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", deadJob, "type", "send_email", "payload", "{}",
            "enqueued_at", now, "attempt", "3", "dead_reason", "retries_exhausted", "dead_error", "SMTP 550 mailbox unavailable",
            "dead_first_error", "SMTP 421 try later", "dead_failed_at", now, "dead_first_failed_at", now, "dead_attempts", "3",
            "dead_worker", "host-1-abc", "dead_entry", "1-0"
        )
    }
}
