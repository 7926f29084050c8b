#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A private `redis-server` for one test: its own free port and temp directory.
///
/// Start it with ``start(_:)`` or, better, ``withRedisServer(_:_:)``, which always
/// cleans up. The fixture can stop, kill, restart, pause and resume the server to
/// exercise failure handling. It only ever signals the process it spawned, by pid,
/// and never after reaping it.
public final class RedisServer: Sendable {
    /// The options the server was started with.
    public let options: Options
    /// The host it listens on: the first of ``Options/bindAddresses`` (`"127.0.0.1"` unless
    /// set).
    public var host: String { options.bindAddresses.first ?? "127.0.0.1" }
    /// Its TCP port, kept across restarts.
    public let port: Int
    /// Its TLS port, when ``Options/tls`` is set; kept across restarts.
    public let tlsPort: Int?
    /// Its cluster bus port, when ``Options/clusterEnabled`` is set; kept across restarts.
    public let clusterBusPort: Int?
    /// A `rediss://` URL for its TLS port, when ``Options/tls`` is set.
    public var tlsURL: String? { tlsPort.map { "rediss://\(host):\($0)" } }
    /// Its unix socket path, when ``Options/unixSocket`` is set.
    public var socketPath: String? { layout.socketPath }
    /// A `redis://` URL for its TCP port.
    public var url: String { "redis://\(host):\(port)" }
    /// A `unix://` URL for its socket, when ``Options/unixSocket`` is set.
    public var unixURL: String? { socketPath.map { "unix://\($0)" } }
    /// Its own temporary directory: data, config file, log, socket.
    public var dataDirectory: String { layout.directory }

    /// The pid of the running process (or of the last one, once it ended).
    public var pid: Int32 {
        state.withLock { $0.child?.pid ?? $0.lastPID }
    }

    let layout: ServerLayout
    private let executable: String
    private let state: Mutex<State>

    private struct State: Sendable {
        /// The running, not yet reaped process; `nil` once reaped.
        var child: ChildProcess?
        var lastPID: Int32
        var isShutDown = false
    }

    private init(executable: String, layout: ServerLayout, port: Int, tlsPort: Int?, clusterBusPort: Int?, child: ChildProcess) {
        self.tlsPort = tlsPort
        self.clusterBusPort = clusterBusPort
        self.executable = executable
        self.options = layout.options
        self.layout = layout
        self.port = port
        self.state = Mutex(State(child: child, lastPID: child.pid))
    }

    deinit {
        // Best effort for a test that never called shutdown(): never leak a server.
        let wasShutDown = state.withLock { state in
            if let child = state.child {
                child.send(SIGKILL)
                _ = child.reapBlocking()
                state.child = nil
            }
            return state.isShutDown
        }
        if !wasShutDown {
            try? FileManager.default.removeItem(atPath: layout.directory)
        }
    }

    /// Starts a server on a free port and returns once it answers PING as itself.
    ///
    /// - Throws: `RedisServerError` if `redis-server` is missing, exits early, does not
    ///   answer within 10 seconds, or if another server answers on its port (after a
    ///   few retries on fresh ports).
    public static func start(_ options: Options = .init()) async throws -> RedisServer {
        let executable = try Executables.redisServer()
        let layout = ServerLayout(directory: try makeTemporaryDirectory(), options: options)
        do {
            // open and write, not FileManager.createFile: that writes atomically, with an
            // fsync that held a task-pool thread for seconds on a loaded machine
            guard Self.writeFile(layout.configPath, Array(layout.configFile.utf8), mode: 0o600) else {
                throw RedisServerError(code: .launchFailed, message: "cannot write \(layout.configPath)")
            }
            var attempt = 1
            while true {
                let port = try ProbeSocket.freeLocalPort()
                var tlsPort: Int?
                if options.tls != nil {
                    repeat { tlsPort = try ProbeSocket.freeLocalPort() } while tlsPort == port
                }
                var busPort: Int?
                if options.clusterEnabled {
                    repeat { busPort = try ProbeSocket.freeLocalPort() } while busPort == port || busPort == tlsPort
                }
                do {
                    let child = try await ServerLauncher.launch(
                        executable: executable, layout: layout, port: port, tlsPort: tlsPort, clusterBusPort: busPort
                    )
                    return RedisServer(
                        executable: executable, layout: layout, port: port, tlsPort: tlsPort, clusterBusPort: busPort, child: child
                    )
                } catch let error as RedisServerError
                    where attempt < 5 && (error.code == .addressInUse || error.code == .foreignServer)
                {
                    attempt += 1
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: layout.directory)
            throw error
        }
    }

    /// Stops the server gracefully: SIGTERM, then waits up to 10 seconds for it to exit.
    ///
    /// Does nothing if it is not running. A paused server is resumed so that it can exit.
    /// - Throws: `RedisServerError` `.stopTimedOut` if it had to be killed; it is gone
    ///   (and reaped) either way.
    public func stop() async throws {
        guard signal(SIGTERM) else { return }
        _ = signal(SIGCONT)
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while ContinuousClock.now < deadline && !Task.isCancelled {
            if reapIfEnded() { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        await kill()
        try Task.checkCancellation()
        throw RedisServerError(code: .stopTimedOut, message: "redis-server \(pid) ignored SIGTERM for 10 s; killed")
    }

    /// Kills the server with SIGKILL and reaps it. Does nothing if it is not running.
    public func kill() async {
        guard signal(SIGKILL) else { return }
        while !reapIfEnded() {
            // A killed process ends within milliseconds; sleep even when cancelled.
            if (try? await Task.sleep(for: .milliseconds(2))) == nil {
                usleep(2000)
            }
        }
    }

    /// Starts the server again on the same port, socket and data directory.
    ///
    /// A running server is stopped first. Data survives when ``Options/appendOnly`` is on.
    /// - Throws: `RedisServerError` as ``start(_:)``, without retrying on other ports.
    public func restart() async throws {
        try await stop()
        guard !state.withLock({ $0.isShutDown }) else {
            throw RedisServerError(code: .launchFailed, message: "restart after shutdown()")
        }
        let child = try await ServerLauncher.launch(
            executable: executable, layout: layout, port: port, tlsPort: tlsPort, clusterBusPort: clusterBusPort
        )
        let accepted = state.withLock { state in
            guard !state.isShutDown, state.child == nil else { return false }
            state.child = child
            state.lastPID = child.pid
            return true
        }
        if !accepted {
            child.send(SIGKILL)
            _ = child.reapBlocking()
            throw RedisServerError(code: .launchFailed, message: "server was shut down or restarted concurrently")
        }
    }

    /// Freezes the server with SIGSTOP: connections stay open, nothing is answered.
    public func pause() {
        _ = signal(SIGSTOP)
    }

    /// Thaws a paused server with SIGCONT.
    public func resume() {
        _ = signal(SIGCONT)
    }

    /// Kills the server if it runs and removes its directory. Safe to call more than once.
    public func shutdown() async {
        await kill()
        let first = state.withLock { state in
            defer { state.isShutDown = true }
            return !state.isShutDown
        }
        if first {
            try? FileManager.default.removeItem(atPath: layout.directory)
        }
    }

    /// Sends `signal` to the running child; `false` if there is none.
    private func signal(_ signal: Int32) -> Bool {
        state.withLock { state in
            guard let child = state.child else { return false }
            child.send(signal)
            return true
        }
    }

    /// Reaps the child if it ended; `true` when none is running any more.
    private func reapIfEnded() -> Bool {
        state.withLock { state in
            guard let child = state.child else { return true }
            guard child.reapIfEnded() != nil else { return false }
            state.child = nil
            return true
        }
    }

    /// Creates (or truncates) the file at `path` with `mode` and writes `bytes`; `false` on
    /// any failure.
    private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// A fresh directory, short enough for a unix socket path (at most 107 bytes).
    private static func makeTemporaryDirectory() throws(RedisServerError) -> String {
        var base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        if base.utf8.count > 60 || base.isEmpty { base = "/tmp" }
        var template = Array((base.hasSuffix("/") ? base : base + "/").utf8CString.dropLast())
        template += Array("spool-redis.XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else {
            throw RedisServerError(code: .launchFailed, message: "mkdtemp in \(base) failed")
        }
        return String(cString: result)
    }
}

/// Starts a private `redis-server`, runs `body` with it, and always shuts it down.
///
/// - Parameters:
///   - options: How to configure the server.
///   - isolation: The caller's isolation, inherited by `body`; leave the default.
///   - body: The test, given the running server.
public func withRedisServer<T>(
    _ options: RedisServer.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServer) async throws -> T
) async throws -> T {
    let server = try await RedisServer.start(options)
    do {
        let result = try await body(server)
        await server.shutdown()
        return result
    } catch {
        await server.shutdown()
        throw error
    }
}
