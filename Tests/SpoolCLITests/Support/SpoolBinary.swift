import Foundation
import Synchronization
import Testing

/// What a finished `spool` run printed and how it exited.
struct RunResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Non-empty stderr lines.
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
}

/// A child process started with posix_spawn and reaped with waitpid polling (Foundation's
/// Process missed child exits when many tests spawned at once).
final class ChildProgram: Sendable {
    let pid: pid_t
    private let status = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments` in `directory`; stdin from `stdinPath` (or /dev/null),
    /// stdout and stderr to files (each to its descriptor instead, when given). `descriptors`
    /// maps more of the child's descriptors to ours (such as `7: pipe`, a shell's `7>&1`).
    init(
        executable: String, arguments: [String], directory: String, environment: [String: String],
        stdinPath: String?, stdoutPath: String, stderrPath: String, stdoutDescriptor: Int32? = nil, stderrDescriptor: Int32? = nil,
        descriptors: [Int32: Int32] = [:]
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
        if let stdoutDescriptor {
            posix_spawn_file_actions_adddup2(&actions, stdoutDescriptor, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        if let stderrDescriptor {
            posix_spawn_file_actions_adddup2(&actions, stderrDescriptor, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        for (child, parent) in descriptors {
            posix_spawn_file_actions_adddup2(&actions, parent, child)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        // `env -C` changes directory (glibc's posix_spawn_file_actions_addchdir_np is not imported)
        let argv = (["/usr/bin/env", "-C", directory, executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
        guard result == 0 else { throw TestFailure("posix_spawn \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// The exit status (128 + signal when killed), or `nil` while it runs.
    var exitStatus: Int32? {
        status.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            guard result == pid else { return result == -1 ? -1 : nil }
            status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            return status
        }
    }
}

/// A `spool` process started by a test (the binary built next to the test bundle).
final class SpoolProcess: Sendable {
    let child: ChildProgram
    let arguments: [String]
    let stdoutPath: String
    let stderrPath: String
    /// The temp directory made for this process (none was given), removed with it.
    private let ownedDirectory: String?

    private init(child: ChildProgram, arguments: [String], stdoutPath: String, stderrPath: String, ownedDirectory: String?) {
        self.child = child
        self.arguments = arguments
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.ownedDirectory = ownedDirectory
    }

    deinit {
        if let ownedDirectory { try? FileManager.default.removeItem(atPath: ownedDirectory) }
    }

    /// The built `spool` executable: beside the test bundle, or up to two directories up.
    static func binary() throws -> String {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("spool").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestFailure("the spool binary was not built next to \(exe): run `swift build` first")
    }

    /// Starts `spool arguments` in `directory` (a new temp dir when `nil`), with the test's
    /// environment minus any `SPOOL_*` variables, plus `environment`; its stderr goes to
    /// `stderrDescriptor` when given (then ``stderr`` reads as empty), and its stdout likewise;
    /// `descriptors` gives it more (see ``ChildProgram``).
    static func start(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:], stdin: [UInt8]? = nil,
        stdoutDescriptor: Int32? = nil, stderrDescriptor: Int32? = nil, descriptors: [Int32: Int32] = [:]
    ) throws -> SpoolProcess {
        let owned = directory == nil ? try TempDirectory.make() : nil
        let directory = directory ?? owned!
        let id = UUID().uuidString.prefix(8)
        let stdoutPath = "\(directory)/spool-\(id).out"
        let stderrPath = "\(directory)/spool-\(id).err"
        var stdinPath: String?
        if let stdin {
            stdinPath = "\(directory)/spool-\(id).in"
            // not FileManager.createFile: an atomic write, whose fsync held a task-pool thread
            // for seconds on a loaded machine (docs/reliability.md, finding 41)
            try Data(stdin).write(to: URL(fileURLWithPath: stdinPath!))
        }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") }
        env.merge(environment) { _, new in new }
        let child = try ChildProgram(
            executable: try binary(), arguments: arguments, directory: directory, environment: env,
            stdinPath: stdinPath, stdoutPath: stdoutPath, stderrPath: stderrPath, stdoutDescriptor: stdoutDescriptor,
            stderrDescriptor: stderrDescriptor, descriptors: descriptors
        )
        return SpoolProcess(child: child, arguments: arguments, stdoutPath: stdoutPath, stderrPath: stderrPath, ownedDirectory: owned)
    }

    /// Runs `spool arguments` to its end (SIGKILLed and failed after `timeout`).
    static func run(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        stdin: [UInt8]? = nil, timeout: Duration = .seconds(60)
    ) async throws -> RunResult {
        let process = try start(arguments, in: directory, environment: environment, stdin: stdin)
        return try await process.wait(timeout: timeout)
    }

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.exitStatus == nil }
    // bytes that are not UTF-8 read as U+FFFD, rather than the whole text as ""
    var stderr: String { String(decoding: FileManager.default.contents(atPath: stderrPath) ?? Data(), as: UTF8.self) }
    var stdout: String { String(decoding: FileManager.default.contents(atPath: stdoutPath) ?? Data(), as: UTF8.self) }

    func signal(_ signal: Int32) {
        if isRunning { Foundation.kill(child.pid, signal) }
    }

    /// Sends `first`, waits for the worker's graceful-shutdown log line, then 1.1 s more, and
    /// sends `second`: a second request, which makes a worker exit at once. (A signal within
    /// 1 s of the worker acting on the first is the same request, `WorkerSignals`; it starts
    /// that second before it logs the line, so from the line on, 1.1 s is past it however late
    /// the line was seen.) The worker must still be shutting down then: give it a job that runs on.
    func signalTwice(_ first: Int32, then second: Int32) async throws {
        signal(first)
        try await waitUntil("the worker logged the graceful shutdown") { stderr.contains("shutting down gracefully") }
        try await Task.sleep(for: .milliseconds(1100))
        signal(second)
    }

    /// Waits for the process to end; SIGKILLs it and throws after `timeout`.
    func wait(timeout: Duration) async throws -> RunResult {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = child.exitStatus {
                return RunResult(status: status, stdout: stdout, stderr: stderr)
            }
            if ContinuousClock.now > deadline {
                kill()
                throw TestFailure("spool \(arguments) still running after \(timeout); stderr: \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGKILLs the process if it still runs, and reaps it (cleanup).
    func kill() {
        guard isRunning else { return }
        Foundation.kill(child.pid, SIGKILL)
        for _ in 0..<500 where isRunning { usleep(10_000) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum TempDirectory {
    /// A new private directory under /tmp (short, for unix socket paths).
    static func make() throws -> String {
        var template = Array("/tmp/spool-cli-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        return String(cString: path)
    }

    /// Writes an executable script.
    @discardableResult
    static func script(_ directory: String, _ name: String, _ body: String) throws -> String {
        // O_CLOEXEC: a child that another test spawns meanwhile must not inherit the write
        // descriptor, or executing the script fails with ETXTBSY ("Text file busy")
        let path = "\(directory)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw TestFailure("cannot write \(path)") }
        let bytes = Array(body.utf8)
        let written = write(fd, bytes, bytes.count)
        close(fd)
        guard written == bytes.count else { throw TestFailure("cannot write \(path)") }
        return path
    }
}

/// Polls `condition` every 50 ms until it holds; fails after `limit`. The condition is checked
/// once more after the deadline: on a loaded machine one sleep can outlast the whole limit (the
/// full suite holds tests up for 12-23 s on two cores), and a wait must not fail unchecked.
/// An error from `condition` (a redis-cli run or an HTTP read that timed out) counts as "not
/// yet" and is reported if the wait times out; a `TestFailure` it throws ends the wait at once.
func waitUntil(
    _ what: String, within limit: Duration = .seconds(60), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch let failure as TestFailure {
            throw failure
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out after \(limit) waiting until \(what)\(lastError.map { "; last error: \($0)" } ?? "")")
}

/// Whether `pid` is gone (or a zombie no one reaped).
func processEnded(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    guard let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
    return state == "Z" || state == "X"
}
