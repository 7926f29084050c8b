import Foundation

/// One `spool-test-worker` child process, signalled only by its own pid and never after it
/// was reaped.
///
/// `@unchecked Sendable`: `process` is started once in `init`, then only read and waited
/// for, which Foundation's `Process` allows across threads; `reaped` is behind a lock.
public final class WorkerProcess: @unchecked Sendable {
    /// The worker's Redis consumer name.
    public let name: String
    private let process: Process
    private let lock = NSLock()
    private var reaped = false

    /// Starts a worker: `spool-test-worker URL QUEUE default NAME MODE LOG SLEEP_MS SETTINGS...`.
    public init(name: String, url: String, queue: String, mode: String, log: String, settings: [String: String], outputDirectory: String) throws {
        self.name = name
        process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = [url, queue, "default", name, mode, log, "0"] + settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let output = outputDirectory + "/worker-\(name).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = FileHandle(forWritingAtPath: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Whether the process still runs.
    public var isRunning: Bool { process.isRunning }

    /// Sends `signal` unless the process was already reaped.
    public func send(_ signal: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if !reaped && process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// SIGKILL (after SIGCONT, for a stopped worker). Not waited for: a killed process runs no
    /// more code, Foundation reaps it (`isRunning` turns false), and `waitUntilExit` would hold
    /// a thread of the cooperative pool (see `runOffThePool` in SpoolTesting).
    public func kill9() {
        send(SIGCONT)
        send(SIGKILL)
    }

    /// Waits until it exits; call it only once `isRunning` is false (it then returns at once).
    public func waitForExit() {
        process.waitUntilExit()
        lock.lock()
        reaped = true
        lock.unlock()
    }

    /// Finds `spool-test-worker`: `$SPOOL_TEST_WORKER`, else beside the running executable
    /// (or one directory up, for a test bundle).
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["SPOOL_TEST_WORKER"] { return path }
        let executable = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        for directory in [executable.deletingLastPathComponent(), executable.deletingLastPathComponent().deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("spool-test-worker").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw FaultsError("spool-test-worker not found beside \(executable.path); build it (swift build) or set SPOOL_TEST_WORKER")
    }
}
