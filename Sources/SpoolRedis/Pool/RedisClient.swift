import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ignores SIGPIPE once per process.
private let ignoreSIGPIPE: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()

/// A Redis client: a small pool of shared, auto-pipelined connections, plus dedicated
/// connections leased for blocking commands.
///
/// ```swift
/// let client = try RedisClient(configuration: .init(url: "redis://localhost:6379"), logger: logger)
/// defer { client.shutdown() }
/// let reply = try await client.send(RedisCommand("INCR", "counter"))
/// ```
public final class RedisClient: Sendable {
    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    private let logger: Logger
    private let shared: [RedisConnection]
    private let nextShared = Atomic<Int>(0)
    private let nextConnectionID = Atomic<Int>(0)
    private let dedicated: Mutex<DedicatedState>

    private struct DedicatedState {
        var idle: [RedisConnection] = []
        var leased: [Int: RedisConnection] = [:]
        var isShutdown = false
    }

    /// Creates the client and its connection threads; connections open on first use.
    ///
    /// hiredis writes with `write(2)`, so the process ignores SIGPIPE from here on (as
    /// SwiftNIO does): a peer that closed its socket is an error, not a process kill.
    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "spool.redis", factory: { _ in SwiftLogNoOpLogHandler() })) {
        ignoreSIGPIPE
        self.configuration = configuration
        self.logger = logger
        let count = max(1, configuration.poolSize)
        var connections: [RedisConnection] = []
        for index in 0..<count {
            connections.append(RedisConnection(id: index, configuration: configuration, logger: logger))
        }
        self.shared = connections
        self.nextConnectionID.store(count, ordering: .relaxed)
        self.dedicated = Mutex(DedicatedState())
    }

    deinit {
        shutdown()
    }

    /// The server's address with any password replaced by `***`.
    public var redactedAddress: String { configuration.redactedURL }

    private var sharedConnection: RedisConnection {
        if shared.count == 1 { return shared[0] }
        let index = nextShared.wrappingAdd(1, ordering: .relaxed).oldValue
        return shared[index % shared.count]
    }

    /// Sends a command on a shared connection and returns its reply.
    ///
    /// An EVALSHA built with ``RedisCommand/evalSHA(_:keys:arguments:)`` whose script the
    /// server lacks is loaded with SCRIPT LOAD and retried once.
    /// - Throws: ``RedisError``.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        let connection = sharedConnection
        do {
            return try await connection.send(command)
        } catch let error as RedisError where error.code == .noScript && command.script != nil {
            try await load(command.script!, on: connection)
            return try await connection.send(command)
        }
    }

    /// Sends a command made of text arguments, e.g. `send("SET", "key", "value")`.
    @discardableResult
    public func send(_ name: String, _ arguments: String...) async throws -> RESPValue {
        try await send(RedisCommand(name, arguments))
    }

    /// Sends the commands in one flush on one shared connection; returns replies in order.
    ///
    /// Error replies are values in their place (``RESPValue/error(_:)``); EVALSHA commands
    /// that met NOSCRIPT are retried after loading their scripts, in their original order.
    /// - Throws: ``RedisError`` only when the connection fails.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let connection = sharedConnection
        var replies = try await connection.pipeline(commands)
        var missing: [Int] = []
        for index in replies.indices where commands[index].script != nil {
            if case .error(let text) = replies[index], text.hasPrefix("NOSCRIPT") { missing.append(index) }
        }
        if missing.isEmpty { return replies }
        var loaded = Set<String>()
        for index in missing {
            let script = commands[index].script!
            if loaded.insert(script.sha1).inserted { try await load(script, on: connection) }
        }
        let retried = try await connection.pipeline(missing.map { commands[$0] })
        for (slot, index) in missing.enumerated() { replies[index] = retried[slot] }
        return replies
    }

    /// Runs a script with EVALSHA, loading it first if the server does not have it.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        try await send(.evalSHA(script, keys: keys, arguments: arguments))
    }

    private func load(_ script: RedisScript, on connection: RedisConnection) async throws {
        let reply = try await connection.send(RedisCommand("SCRIPT", "LOAD", script.source))
        if reply.string != script.sha1 {
            throw RedisError(
                code: .protocolError,
                message: "SCRIPT LOAD returned \(reply) for a script whose SHA-1 is \(script.sha1)",
                address: redactedAddress
            )
        }
    }

    /// Leases a dedicated connection for the duration of `body`, e.g. for a blocking
    /// `XREADGROUP ... BLOCK` loop that must not stall the shared pipeline.
    public func withDedicatedConnection<T>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        let connection = try leaseDedicated()
        defer { returnDedicated(connection) }
        return try await body(connection)
    }

    private func leaseDedicated() throws(RedisError) -> RedisConnection {
        let leased: RedisConnection? = dedicated.withLock { state in
            if state.isShutdown { return nil }
            let connection = state.idle.popLast()
                ?? RedisConnection(
                    id: nextConnectionID.wrappingAdd(1, ordering: .relaxed).oldValue,
                    configuration: configuration,
                    logger: logger
                )
            state.leased[connection.id] = connection
            return connection
        }
        guard let leased else {
            throw RedisError(code: .shutdown, message: "the client was shut down", address: redactedAddress)
        }
        return leased
    }

    private func returnDedicated(_ connection: RedisConnection) {
        let keep = dedicated.withLock { state in
            state.leased[connection.id] = nil
            guard !state.isShutdown, state.idle.count < configuration.maxIdleDedicatedConnections else { return false }
            state.idle.append(connection)
            return true
        }
        if !keep { connection.close() }
    }

    /// Fails everything in flight, closes every connection and joins its thread; idempotent.
    public func shutdown() {
        let connections = dedicated.withLock { state in
            state.isShutdown = true
            let all = state.idle + Array(state.leased.values)
            state.idle.removeAll()
            return all
        }
        for connection in connections + shared { connection.close() }
    }
}
