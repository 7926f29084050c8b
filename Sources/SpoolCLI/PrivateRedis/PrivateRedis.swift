import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The private `redis-server` a command starts when no Redis URL is given: a unix socket,
/// append-only data, a pid file and a log, all under `./.spool/`.
///
/// Several commands may start at once (a worker and an enqueue): a lock file serialises the
/// start-or-reuse. Only a process whose executable is a `redis-server` and whose working
/// directory is this `.spool` directory counts as ours.
struct PrivateRedis {
    /// The `.spool` directory, absolute.
    let directory: String

    var socketPath: String { directory + "/redis.sock" }
    var pidPath: String { directory + "/redis.pid" }
    var configPath: String { directory + "/redis.conf" }
    var logPath: String { directory + "/redis.log" }
    var lockPath: String { directory + "/lock" }
    var url: String { "unix://" + socketPath }

    /// `./.spool` of the current directory.
    static func defaultDirectory() -> String {
        FileManager.default.currentDirectoryPath + "/.spool"
    }

    private static let announced = Mutex(false)

    /// Starts the server unless ours is already running; returns its URL. With `announce`,
    /// says once per process on stderr which server is used.
    ///
    /// A running server of ours is never replaced: one that does not answer yet (loading its
    /// data, stopped, stalled) gets `wait` to answer, then this throws.
    ///
    /// With `instead`, never starts one: throws `instead` when none of ours runs (checked
    /// under the lock, so a server stopped meanwhile is not started again).
    func startOrReuse(announce: Bool, wait: Duration, instead: CLIError? = nil) throws -> String {
        // sun_path holds 108 bytes with the terminating NUL
        guard socketPath.utf8.count < 104 else {
            throw CLIError("the private Redis socket path \(socketPath) is too long for a unix socket; "
                + "run spool from a shorter directory or pass --redis")
        }
        try prepareDirectory()
        try withLock { () throws -> Void in
            // a stale pid file is replaced by start()
            if case .running(let pid) = serverState(), try awaitAnswer(from: pid, within: wait) { return }
            if let instead { throw instead }
            try self.start()
        }
        if announce {
            let first = Self.announced.withLock { done in
                defer { done = true }
                return !done
            }
            if first {
                StandardError.writeLine("spool: using private Redis at \(url) (stop it with `spool redis stop`)")
            }
        }
        return url
    }

    /// Whether our server runs (``serverState()``).
    var isRunning: Bool {
        if case .running = serverState() { return true }
        return false
    }

    /// Whether our server runs, by `redis.pid` and /proc.
    enum ServerState: Equatable {
        /// No pid file (or no pid in it), and no server of ours in /proc.
        case absent
        /// Our `redis-server` runs with this pid.
        case running(pid_t)
        /// The pid's process ended, or is not our `redis-server` any more (the pid was reused
        /// after a crash or a reboot), and no server of ours is in /proc: the file is stale,
        /// and that process is never signalled.
        case stale
    }

    /// Whether our server runs: the pid in `redis.pid`, else (that file gone or stale) a server
    /// of ours found in /proc, so that a lost pid file never lets a second server start on the
    /// same data.
    func serverState() -> ServerState {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return runningServers().first.map { .running($0) } ?? .absent }
        if !Self.hasEnded(pid) && isOurs(pid) { return .running(pid) }
        return runningServers().first.map { .running($0) } ?? .stale
    }

    /// The live processes in /proc that are our `redis-server` (``isOurs(_:)``), lowest pid first.
    func runningServers() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.sorted().filter { !Self.hasEnded($0) && isOurs($0) }
    }

    /// Whether `pid` runs a `redis-server` executable with this directory as its working directory.
    func isOurs(_ pid: pid_t) -> Bool {
        // the working directory first: it rules out nearly every process at once
        let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
        guard Self.realPath(cwd) == Self.realPath(directory) else { return false }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        // Debian's /usr/bin/redis-server is a link to redis-check-rdb: compare resolved paths
        return comm.hasPrefix("redis-server")
            || Self.findExecutable("redis-server").map { Self.realPath($0) == Self.realPath(exe) } == true
    }

    /// Runs `body` holding an exclusive lock on `.spool/lock`.
    func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CLIError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CLIError("cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
