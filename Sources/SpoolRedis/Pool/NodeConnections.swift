import Logging
import Synchronization

/// The connections to one server: a few shared, auto-pipelined ones and a pool of dedicated
/// connections leased for blocking commands. A ``RedisClient`` has one of these, or one per
/// cluster node.
final class NodeConnections: Sendable {
    /// The configuration of every connection here; its address is this server's.
    let configuration: RedisConfiguration
    /// The client's logger (a client following this one's logs to it too).
    let logger: Logger
    /// Numbers the connections (shared with a client that follows this one's, see
    /// ``RedisClient/init(following:loop:)``).
    let ids: ConnectionIDs
    private let shared: [RedisConnection]
    private let nextShared = Atomic<Int>(0)
    private let dedicated: Mutex<DedicatedState>

    private struct DedicatedState {
        var idle: [RedisConnection] = []
        var leased: [Int: RedisConnection] = [:]
        var isShutdown = false
    }

    /// Creates the connection threads; connections open on first use.
    /// - Parameter loop: drives the shared connections' I/O, when given (``ConnectionLoop``).
    init(configuration: RedisConfiguration, ids: ConnectionIDs, logger: Logger, loop: ConnectionLoop? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.ids = ids
        self.shared = (0..<max(1, configuration.poolSize)).map { _ in
            RedisConnection(id: ids.next(), configuration: configuration, logger: logger, loop: loop)
        }
        self.dedicated = Mutex(DedicatedState())
    }

    /// One of the shared connections, round robin.
    var sharedConnection: RedisConnection {
        if shared.count == 1 { return shared[0] }
        let index = nextShared.wrappingAdd(1, ordering: .relaxed).oldValue
        return shared[index % shared.count]
    }

    /// Takes an idle dedicated connection, or makes one.
    /// - Throws: ``RedisError`` `shutdown` after ``shutdown()``.
    func lease() throws(RedisError) -> RedisConnection {
        let leased: RedisConnection? = dedicated.withLock { state in
            if state.isShutdown { return nil }
            let connection = state.idle.popLast()
                ?? RedisConnection(id: ids.next(), configuration: configuration, logger: logger)
            state.leased[connection.id] = connection
            return connection
        }
        guard let leased else {
            throw RedisError(code: .shutdown, message: "the client was shut down", address: configuration.redactedURL)
        }
        return leased
    }

    /// Returns a leased connection; kept for reuse up to `maxIdleDedicatedConnections`.
    func giveBack(_ connection: RedisConnection) {
        let keep = dedicated.withLock { state in
            state.leased[connection.id] = nil
            guard !state.isShutdown, state.idle.count < configuration.maxIdleDedicatedConnections else { return false }
            state.idle.append(connection)
            return true
        }
        if !keep { connection.close() }
    }

    /// Fails everything in flight, closes every connection and joins its thread; idempotent.
    func shutdown() {
        let connections = dedicated.withLock { state in
            state.isShutdown = true
            let all = state.idle + Array(state.leased.values)
            state.idle.removeAll()
            return all
        }
        for connection in connections + shared { connection.close() }
    }
}

/// Hands out connection ids (`redis.connection.id` in logs), unique within one client.
final class ConnectionIDs: Sendable {
    private let counter = Atomic<Int>(0)

    /// The next id: 0, 1, 2, ...
    func next() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
