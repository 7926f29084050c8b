#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, identified by its pid.
///
/// This type only spawns, signals and reaps. The caller decides when: a pid must not be
/// signalled after it was reaped, because the kernel may hand it to another process.
struct ChildProcess: Sendable, Hashable {
    /// How a reaped child ended.
    enum Termination: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        init(waitStatus status: Int32) {
            if status & 0x7f == 0 {
                self = .exited((status >> 8) & 0xff)
            } else {
                self = .signalled(status & 0x7f)
            }
        }

        var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }

    let pid: pid_t

    /// Starts `executable` with `arguments` (not including argv[0]) and `environment`.
    ///
    /// Standard input reads /dev/null; standard output is appended to `outputPath`, and
    /// standard error to `errorPath` (or to `outputPath` too when `nil`). Signal
    /// dispositions and the signal mask are reset to defaults.
    static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String],
        outputPath: String,
        errorPath: String? = nil
    ) throws(RedisServerError) -> ChildProcess {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }

        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw RedisServerError(
                code: .launchFailed,
                message: "posix_spawn \(executable) failed: \(String(cString: strerror(result)))"
            )
        }
        return ChildProcess(pid: pid)
    }

    /// Sends `signal` to the child; the caller guarantees it was not reaped yet.
    func send(_ signal: Int32) {
        _ = kill(pid, signal)
    }

    /// Reaps the child if it has ended, without blocking.
    ///
    /// Returns `nil` while it runs (a stopped child still runs).
    func reapIfEnded() -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return Termination(waitStatus: status) }
            if result == 0 { return nil }
            if errno == EINTR { continue }
            // ECHILD: someone else reaped it; it has certainly ended.
            return .exited(-1)
        }
    }

    /// Waits for the child to end without holding a thread: reaps it between short task
    /// sleeps. After `limit`, or once the calling task is cancelled, it is killed (SIGKILL)
    /// and reaped, and `nil` is returned.
    ///
    /// For a program run to its end from a test (a task): Foundation's `Process.waitUntilExit`
    /// holds the calling thread, and what ends the wait runs on Dispatch's global queue, whose
    /// threads are Swift's task pool (two on a 2-core machine). Two tests waiting at once
    /// stalled every other test for seconds (`openssl` in ``TestCertificates``).
    func wait(within limit: Duration) async -> Termination? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let ended = reapIfEnded() { return ended }
            if (try? await Task.sleep(for: .milliseconds(2))) == nil { break }   // cancelled
        }
        send(SIGKILL)
        _ = reapBlocking()
        return nil
    }

    /// Reaps the child, blocking until it ends. Use only after SIGKILL.
    func reapBlocking() -> Termination {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return Termination(waitStatus: status) }
            if result == -1 && errno == EINTR { continue }
            return .exited(-1)
        }
    }
}
