import CSpoolSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension PrivateRedis {
    /// The server's config file: a unix socket only (no TCP port), append-only data with
    /// `appendfsync everysec`, no RDB snapshots, daemonized with a pid file.
    var configFile: String {
        func quoted(_ value: String) -> String {
            "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return """
            # Written by `spool` for its private Redis; `spool redis stop` stops it.
            port 0
            unixsocket \(quoted(socketPath))
            unixsocketperm 700
            dir \(quoted(directory))
            pidfile \(quoted(pidPath))
            logfile \(quoted(logPath))
            daemonize yes
            appendonly yes
            appendfsync everysec
            save ""

            """
    }

    /// Starts a daemonized `redis-server` and waits (up to 10 seconds) until it answers PING.
    func start() throws {
        guard let executable = Self.findExecutable("redis-server") else {
            throw CLIError("no Redis URL given and redis-server is not installed: install it "
                + "(e.g. apt-get install redis-server) or pass --redis / set SPOOL_REDIS_URL")
        }
        unlink(socketPath)
        unlink(pidPath)
        try writeFile(configPath, configFile)
        // posix_spawn + waitpid: Foundation's Process.waitUntilExit can hang in an async command
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        // and every other descriptor closed: the daemon would hold a caller's pipe open for its
        // whole life (`spool redis start 7>&1 | cat` never ended)
        let closing = spool_spawn_close_from(&actions, 3)
        guard closing == 0 else {
            throw CLIError("cannot start \(executable): \(String(cString: strerror(closing)))")
        }
        // the server must not inherit a blocked or ignored SIGTERM, or `spool redis stop` cannot stop it
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), strdup(configPath), nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw CLIError("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // the daemonizing parent exits 0 once it has forked the server
        guard status & 0x7f == 0 && (status >> 8) & 0xff == 0 else {
            throw CLIError("redis-server failed to start; see \(logPath)")
        }
        _ = try awaitAnswer(from: nil, within: .seconds(10))
    }

    /// What ``stop()`` did.
    enum StopOutcome: Equatable {
        /// Stopped our server, which had this pid.
        case stopped(pid_t)
        /// None was running.
        case notRunning
        /// None was running, and a stale pid file was removed (its process left alone).
        case staleFileRemoved
    }

    /// Stops our server with SIGTERM (it finishes writing its data) and waits up to 15 seconds;
    /// SIGCONT follows, so that a stopped server receives it. A stale pid file is removed.
    func stop() throws -> StopOutcome {
        var info = stat()
        guard lstat(directory, &info) == 0 else { return .notRunning }
        try checkDirectory()
        return try withLock {
            switch serverState() {
            case .absent:
                return .notRunning
            case .stale:
                unlink(pidPath)
                return .staleFileRemoved
            case .running(let pid):
                kill(pid, SIGTERM)
                kill(pid, SIGCONT)
                let deadline = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < deadline {
                    if Self.hasEnded(pid) {
                        unlink(socketPath)
                        return .stopped(pid)
                    }
                    usleep(20_000)
                }
                throw CLIError("redis-server (pid \(pid)) did not stop within 15s; see \(logPath)")
            }
        }
    }

    /// Whether `pid` is gone, or a zombie (a daemon's parent may be an init that never reaps).
    static func hasEnded(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
        return state == "Z" || state == "X"
    }

    /// The first executable file named `name` on `$PATH`.
    static func findExecutable(_ name: String) -> String? {
        let path = ConnectionOptions.environment("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// Whether `path` is a regular file (after symlinks) this process may execute. A directory
    /// passes `access(X_OK)` too (its search permission), so that alone is not enough.
    static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }
}
