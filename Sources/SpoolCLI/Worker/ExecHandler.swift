import CSpoolExec
import Foundation
import Spool
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The `exec` handler: runs a program with its argv — never through a shell — with the
/// payload on stdin and the job's metadata in `SPOOL_*` environment variables.
///
/// Exit status 0 is success, 65 (`EX_DATAERR`) a permanent failure (straight to the dead
/// letters), anything else (75 `EX_TEMPFAIL` included, or death by a signal) a retryable
/// failure. The last 2 KiB of its stderr become the error text; its stdout goes to the
/// worker's stderr line by line, as it is or as JSON log records (``ExecOutput``).
///
/// The program runs in a process group of its own, so that a timeout (or the worker exiting
/// at once on a second signal) can SIGKILL it together with everything it started.
/// swift-subprocess supports both (`processGroupID`, a teardown sequence). On Linux the
/// trampoline is sent `SPOOL_EXEC_END_SIGNAL` first: it also kills a process group the
/// program made of its own, which the group's SIGKILL does not reach.
struct ExecHandler: Sendable {
    /// The program, resolved to a path, and its arguments.
    let executable: String
    let arguments: [String]
    /// Where the program's stdout goes.
    let output: ExecOutput

    /// Bytes of stderr kept as the error text.
    static let stderrTailBytes = 2048
    /// The exit status that means "this input can never succeed".
    static let permanentFailureStatus: Int32 = 65

    /// Resolves `argv[0]` (a path, or a name looked up on `$PATH`) to an executable file.
    init(argv: [String], logFormat: LogFormat) throws {
        output = ExecOutput(format: logFormat)
        guard let program = argv.first, !program.isEmpty else {
            throw CLIError("--exec needs a program, e.g. --exec ./handle-job.sh")
        }
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : FileManager.default.currentDirectoryPath + "/" + program
            guard PrivateRedis.isExecutableFile(path) else {
                let reason = access(path, X_OK) == 0 ? "not a regular file" : String(cString: strerror(errno))
                throw CLIError("exec handler \(program) is not an executable file: \(reason)")
            }
            executable = path
        } else if let found = PrivateRedis.findExecutable(program) {
            executable = found
        } else {
            throw CLIError("exec handler \(program) was not found on $PATH")
        }
        if let unrunnable = Self.whyUnrunnable(executable) {
            throw CLIError("exec handler \(program) cannot be run: \(unrunnable)")
        }
        arguments = Array(argv.dropFirst())
    }

    /// Why the kernel would refuse to run the executable file at `path`, read from its start:
    /// `ENOEXEC` for a file that is neither ELF nor a `#!` script, or whose `#!` line names no
    /// interpreter; `ENOENT` for a `#!` interpreter that is missing, or whose name ends in a
    /// carriage return (a script with Windows line endings; a carriage return after an
    /// argument goes to the interpreter, which may accept it). `nil` when it looks runnable,
    /// cannot be read (execute-only, a read error), or when `binfmt_misc` may run it: a
    /// registered format can run any file, and where `binfmt_misc` is not mounted (most
    /// containers) the host's formats may still apply, so a file that is neither ELF nor `#!`
    /// is refused only where it is mounted with none. Without this, the worker started and
    /// handed every job back, the reason only in its log.
    static func whyUnrunnable(_ path: String) -> String? {
        #if os(Linux)
        let formats = binfmtMiscFormats()
        if formats == .some { return nil }
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let read = try? handle.read(upToCount: 256) else { return nil }
        let head = Array(read)
        if head.starts(with: [0x7F, 0x45, 0x4C, 0x46]) { return nil }  // ELF
        guard head.starts(with: Array("#!".utf8)) else {
            guard formats == .none else { return nil }
            return "it is neither a program (ELF) nor a script with a #! line: make its first line #!/bin/sh "
                + "(or the interpreter it needs)"
        }
        // the line ends at its line feed, or at the end of a file shorter than the read; a
        // longer line is left to the kernel (which allows 256 bytes)
        guard let end = head.firstIndex(of: UInt8(ascii: "\n")) ?? (head.count < 256 ? head.endIndex : nil) else { return nil }
        // (the kernel splits at spaces and tabs only, and a NUL ends the line)
        let line = head[2..<end].prefix { $0 != 0 }
        let words = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        guard let first = words.first else { return "its #! line names no interpreter: write #!/bin/sh (or the interpreter it needs)" }
        if first.last == UInt8(ascii: "\r") {
            return "its #! interpreter's name ends in a carriage return (Windows line endings): convert the file, e.g. with dos2unix"
        }
        let interpreter = String(decoding: first, as: UTF8.self)
        if !PrivateRedis.isExecutableFile(interpreter) {
            return "its #! interpreter \(interpreter) is missing or not executable: install it, or change the #! line"
        }
        #endif
        return nil
    }

    /// What `binfmt_misc` may run besides ELF and `#!` files.
    private enum BinfmtMisc { case none, some, unknown }

    /// `none` where `binfmt_misc` is mounted and lists no format besides its control files
    /// (`register`, `status`); `some` where it lists one; `unknown` where it is not mounted.
    private static func binfmtMiscFormats() -> BinfmtMisc {
        let directory = "/proc/sys/fs/binfmt_misc"
        guard FileManager.default.fileExists(atPath: directory + "/status"),
              let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return .unknown }
        return entries.contains { $0 != "register" && $0 != "status" } ? .some : .none
    }

    /// Runs one job.
    func run(_ envelope: JobEnvelope, _ context: JobContext) async throws {
        // exiting at once (a second signal): start nothing, report nothing
        guard RunningChildren.shared.willStart() else {
            await RunningChildren.shared.holdIfExiting()
            throw CancellationError()
        }
        var options = PlatformOptions()
        options.processGroupID = 0  // a new group led by the child
        // on cancellation (the handler timeout, or shutdown past the grace period): on Linux
        // the trampoline first kills the program, what it started and a process group the
        // program made of its own (``RunningChildren/endSignal``); then the group is SIGKILLed
        options.teardownSequence = RunningChildren.endSignal.map {
            // the wait ends when the trampoline does (at once, normally): a busy machine may
            // take a moment to run its handler, and a SIGKILL would cut that off
            [.send(signal: Signal(rawValue: $0), toProcessGroup: false, allowedDurationToNextStep: .seconds(1))]
        } ?? []
        options.teardownSequence.append(.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200)))
        let payload = envelope.payload
        let spawned = SpawnMark()
        let status: TerminationStatus
        let stderrBytes: [UInt8]
        do {
            let result = try await Subprocess.run(
                .path(FilePath(launcher)),
                arguments: Arguments(launchArguments),
                environment: Self.environment(envelope, context),
                platformOptions: options,
                input: .inputWriter,
                output: .sequence,
                error: .sequence
            ) { execution in
                let group = execution.processIdentifier.value
                spawned.set()
                RunningChildren.shared.started(group)
                defer { RunningChildren.shared.remove(group) }
                return try await withThrowingTaskGroup(of: [UInt8].self) { tasks in
                    tasks.addTask {
                        // a program that does not read its stdin closes the pipe: not an error
                        _ = try? await execution.standardInputWriter.write(payload)
                        try? await execution.standardInputWriter.finish()
                        return []
                    }
                    tasks.addTask { [output] in
                        try await output.forward(execution.standardOutput, context)
                        return []
                    }
                    tasks.addTask {
                        var tail: [UInt8] = []
                        for try await buffer in execution.standardError {
                            buffer.withUnsafeBytes { tail.append(contentsOf: $0) }
                            if tail.count > 2 * Self.stderrTailBytes {
                                tail.removeFirst(tail.count - Self.stderrTailBytes)
                            }
                        }
                        return Array(tail.suffix(Self.stderrTailBytes))
                    }
                    var tail: [UInt8] = []
                    for try await part in tasks where !part.isEmpty { tail = part }
                    return tail
                }
            }
            status = result.terminationStatus
            stderrBytes = result.closureResult
        } catch {
            guard !spawned.isSet else { throw error }
            // Pipes, the process or the exec failed: the worker's trouble, not the job's.
            RunningChildren.shared.didNotStart()
            if Task.isCancelled { throw error }
            throw SpawnFailures.shared.handBack("cannot start \(executable): \(error)")
        }
        await RunningChildren.shared.holdIfExiting()
        let stderrTail = String(decoding: stderrBytes, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // the trampoline could not exec the program: it did not run
        if status == .exited(127), let range = stderrTail.range(of: Self.trampolineToken + " ") {
            throw SpawnFailures.shared.handBack(String(stderrTail[range.upperBound...]))
        }
        SpawnFailures.shared.reset()
        switch status {
        case .exited(0):
            return
        case .exited(Self.permanentFailureStatus):
            throw NonRetryableError(Self.describe("exited with status 65 (permanent failure)", stderrTail))
        case .exited(let status):
            throw ExecFailure(message: Self.describe("exited with status \(status)", stderrTail))
        case .signaled(let signal):
            throw ExecFailure(message: Self.describe("killed by signal \(signal)", stderrTail))
        }
    }

    /// On Linux the trampoline (``Trampoline``); elsewhere the program.
    private var launcher: String {
        #if os(Linux)
        Trampoline.resolved.path
        #else
        executable
        #endif
    }

    /// What is spawned: on Linux the trampoline (`spool-exec`, or `spool` itself), which sets
    /// PR_SET_PDEATHSIG so that the program and its process group are SIGKILLed when the worker
    /// dies, puts back the soft file limit the worker raised, then runs the program as its
    /// child and ends as it did; elsewhere the program itself.
    private var launchArguments: [String] {
        #if os(Linux)
        [
            SPOOL_EXEC_TRAMPOLINE_FLAG, Self.trampolineToken, "\(getpid())",
            "\(FileLimit.originalSoftLimit.load(ordering: .sequentiallyConsistent))", executable,
        ] + arguments
        #else
        arguments
        #endif
    }

    /// Starts the trampoline's "cannot run" line: random per process, so a program's own
    /// stderr cannot pass for it.
    static let trampolineToken = "spool-exec-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)

    /// `what`, then as much of the end of stderr as fits in the 2,000 bytes a dead letter
    /// keeps (the end says most about why a program failed).
    private static func describe(_ what: String, _ stderrTail: String) -> String {
        guard !stderrTail.isEmpty else { return what }
        let room = 1_990 - what.utf8.count - 2
        var tail = Substring(stderrTail)
        if tail.utf8.count > room {
            while tail.utf8.count > room - 3 { tail = tail.dropFirst() }
            return "\(what): ...\(tail)"
        }
        return "\(what): \(tail)"
    }

    /// The inherited environment without the worker's Redis credentials, plus the job's metadata.
    static func environment(_ envelope: JobEnvelope, _ context: JobContext) -> Subprocess.Environment {
        var changes: [Subprocess.Environment.Key: String?] = [:]
        for name in ProcessInfo.processInfo.environment.keys
        where name.hasPrefix("SPOOL_") || name == "REDISCLI_AUTH" {
            changes[Subprocess.Environment.Key(rawValue: name)!] = .some(nil)
        }
        changes["SPOOL_JOB_ID"] = "\(context.id)"
        changes["SPOOL_QUEUE"] = context.queue.rawValue
        changes["SPOOL_GROUP"] = context.group.rawValue
        changes["SPOOL_JOB_TYPE"] = context.type
        changes["SPOOL_ATTEMPT"] = "\(context.attempt)"
        changes["SPOOL_MAX_ATTEMPTS"] = "\(context.maxAttempts)"
        changes["SPOOL_ENQUEUED_AT"] = "\(context.enqueuedAt)"
        changes["TRACEPARENT"] = .some(context.traceparent)
        changes["TRACESTATE"] = .some(context.tracestate)
        return .inherit.updating(changes)
    }
}

/// A retryable failure of a handler program.
struct ExecFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The program each exec job starts first on Linux (CSpoolExec's trampoline), found once.
///
/// `spool-exec` beside the running binary (`dirname(/proc/self/exe)/spool-exec`, symlinks
/// resolved) is a small C program: starting it costs a fraction of a millisecond. Without it
/// the worker still starts, using the running `spool` binary itself (`/proc/self/exe`) as
/// the trampoline, which behaves the same but costs several milliseconds of CPU per job
/// (loading the Swift runtime and Foundation), and warns once at start.
enum Trampoline {
    static let resolved: (path: String, missing: String?) = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("spool-exec").path
        if PrivateRedis.isExecutableFile(path) { return (path, nil) }
        return ("/proc/self/exe", path)
    }()

    /// The warning for a worker with exec handlers when `spool-exec` is missing, or nil.
    static var warning: String? {
        #if os(Linux)
        resolved.missing.map {
            "\($0) is missing or not executable: each exec job starts through the spool binary instead, "
                + "which costs several milliseconds of CPU per job (install spool-exec beside spool)"
        }
        #else
        nil
        #endif
    }
}

/// Whether the program of one run was spawned (its body began).
private final class SpawnMark: Sendable {
    private let spawned = Atomic<Bool>(false)
    func set() { spawned.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { spawned.load(ordering: .sequentiallyConsistent) }
}

/// The pause after programs fail to start: the slot that failed (and every other that fails
/// meanwhile) stays idle until one shared deadline, 1 s after the first failure, then twice
/// as long after each failure past the deadline, up to 30 s; none once a program starts.
/// So a worker that cannot start programs (a non-atomic deploy, out of descriptors) soon
/// fetches nothing, and tries again every 30 s at most.
final class SpawnFailures: Sendable {
    static let shared = SpawnFailures()

    private struct State {
        var rounds = 0
        var until: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    /// The error that hands the job back unstarted, with the pause it should wait.
    func handBack(_ message: String) -> HandBackError {
        let now = ContinuousClock.now
        let pause = state.withLock { state -> Duration in
            if let until = state.until, until > now { return until - now }
            state.rounds += 1
            let pause = Duration.seconds(min(30, 1 << min(state.rounds - 1, 5)))
            state.until = now + pause
            return pause
        }
        return HandBackError(message, pause: pause)
    }

    /// A program started.
    func reset() {
        state.withLock { $0 = State() }
    }
}
