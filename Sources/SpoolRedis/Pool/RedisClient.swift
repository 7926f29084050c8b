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
///
/// With a `redis-cluster://` configuration the same API runs over a Redis Cluster: each
/// command goes to the master of its key's hash slot, a command without a key (`PING`,
/// `INFO`, ...) to any master that answers, a pipeline is split by node, and MOVED, ASK,
/// CLUSTERDOWN and failovers are handled inside (see `docs/cluster.md`).
///
/// Replies are matched to commands one each, in order, so commands that answer otherwise
/// (`SUBSCRIBE` and the other pub/sub commands, `MONITOR`, `CLIENT REPLY OFF|SKIP`) and
/// `RESET` are refused before sending, with the error code `unsupportedCommand`. So are
/// `SELECT`, `AUTH` and `HELLO … AUTH`, on every connection: they would move the commands of
/// every caller of a connection (a dedicated one goes back to the client's pool after its
/// lease) to another database or user; the URL sets both. And so is `HELLO` with a protocol
/// version other than 2 (the client reads RESP2 only). On a single server, so is a
/// transaction that would not open and close within one call on a shared
/// connection: `MULTI … EXEC` goes in one ``pipeline(_:)`` (``RedisCommand``'s
/// `sharedConnectionReason` says why; a follow-up command of ``pipeline(_:then:)`` is not
/// checked). On a cluster, so are `MULTI`, `EXEC`, `DISCARD`,
/// `WATCH` and `UNWATCH` sent with ``send(_:)``,
/// ``pipeline(_:)`` or to each master: each command is routed on its own, so a transaction's
/// commands could run on different masters (a dedicated connection to one node takes them).
public final class RedisClient: Sendable {
    /// The configuration the client was created with.
    public let configuration: RedisConfiguration
    private let backend: Backend

    private enum Backend: Sendable {
        case single(NodeConnections)
        case cluster(ClusterRouter)
    }

    /// Creates the client and its connection threads; connections open on first use.
    ///
    /// hiredis writes with `write(2)`, so the process ignores SIGPIPE from here on (as
    /// SwiftNIO does): a peer that closed its socket is an error, not a process kill.
    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "spool.redis", factory: { _ in SwiftLogNoOpLogHandler() })) {
        ignoreSIGPIPE
        self.configuration = configuration
        if let cluster = configuration.cluster {
            backend = .cluster(ClusterRouter(configuration: configuration, cluster: cluster, logger: logger))
        } else {
            backend = .single(NodeConnections(configuration: configuration, ids: ConnectionIDs(), logger: logger))
        }
    }

    /// A client for part of `parent`'s work, whose shared connection is driven by `loop`
    /// (``ConnectionLoop``): tasks on the loop's thread send and get replies with no other
    /// thread woken. Same configuration and logger (its own shared connections, `poolSize` of them);
    /// dedicated connections keep threads of their own. It is shut down with `parent` (at once
    /// if `parent` already was), until ``stopFollowing(_:)``. `nil` for a cluster.
    ///
    /// Its ``shutdown()`` does not wait: the loop fails what is in flight on its next turn
    /// (after the task running then), and closes the socket.
    package init?(following parent: RedisClient, loop: ConnectionLoop) {
        guard case .single(let node) = parent.backend else { return nil }
        ignoreSIGPIPE
        self.configuration = parent.configuration
        self.backend = .single(NodeConnections(configuration: configuration, ids: node.ids, logger: node.logger, loop: loop))
        let parentDown = parent.followers.withLock { state in
            if state.isShutdown { return true }
            state.clients[ObjectIdentifier(self)] = self
            return false
        }
        if parentDown { shutdown() }
    }

    /// Clients shut down with this one (``init(following:loop:)``).
    private let followers = Mutex(Followers())

    private struct Followers {
        var clients: [ObjectIdentifier: RedisClient] = [:]
        var isShutdown = false
    }

    /// Lets go of a client made to follow this one: it is no longer shut down with this one.
    package func stopFollowing(_ follower: RedisClient) {
        _ = followers.withLock { $0.clients.removeValue(forKey: ObjectIdentifier(follower)) }
    }

    deinit {
        shutdown()
    }

    /// The server's address with any password replaced by `***`.
    public var redactedAddress: String { configuration.redactedURL }

    /// Sends a command on a shared connection and returns its reply.
    ///
    /// Every caller's commands share that connection, in order: a blocking command (`BLPOP`,
    /// `BRPOP`, `BLMOVE`, `XREAD`/`XREADGROUP … BLOCK`, `WAIT`) holds all of them up until it
    /// returns, and one that blocks past ``RedisConfiguration/commandTimeout`` drops the
    /// connection, failing the commands in flight with it. Send those with
    /// ``withDedicatedConnection(_:)``.
    ///
    /// An EVALSHA built with ``RedisCommand/evalSHA(_:keys:arguments:)`` whose script the
    /// server lacks is loaded with SCRIPT LOAD and retried once.
    /// - Throws: ``RedisError``.
    public func send(_ command: RedisCommand) async throws -> RESPValue {
        switch backend {
        case .single(let node):
            try refuseOnShared(CollectionOfOne(command))
            return try await node.sharedConnection.sendLoadingScript(command)
        case .cluster(let router): return try await router.send(command)
        }
    }

    /// Sends a command made of text arguments, e.g. `send("SET", "key", "value")`.
    @discardableResult
    public func send(_ name: String, _ arguments: String...) async throws -> RESPValue {
        try await send(RedisCommand(name, arguments))
    }

    /// Sends the commands in one flush on one shared connection (one per node on a
    /// cluster); returns replies in order.
    ///
    /// Error replies are values in their place (``RESPValue/error(_:)``); EVALSHA commands
    /// that met NOSCRIPT are retried after loading their scripts, in their original order.
    /// - Throws: ``RedisError`` only when the connection fails.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        switch backend {
        case .single(let node):
            try refuseOnShared(commands)
            return try await node.sharedConnection.pipelineLoadingScripts(commands)
        case .cluster(let router): return try await router.pipeline(commands)
        }
    }

    /// Sends the commands in one flush on one shared connection; when their replies are read,
    /// `followUp` may name one more command, written at once by the connection's thread or loop (see
    /// ``RedisConnection/pipeline(_:then:timeout:)``). Returns the commands' replies, then the
    /// follow-up's reply if there was one. Every command and the follow-up must go to the same
    /// server: on a cluster, keys of one hash slot (there the follow-up goes as a second
    /// pipeline, after the replies came back to the caller).
    ///
    /// Error replies are values in their place; EVALSHA commands among `commands` that met
    /// NOSCRIPT are sent again after loading their scripts. If the connection fails once the
    /// commands' replies are in, the result lacks only the follow-up's reply.
    /// - Throws: ``RedisError`` only when the connection fails before the commands' replies are in.
    public func pipeline(_ commands: [RedisCommand], then followUp: @escaping RedisFollowUp) async throws -> [RESPValue] {
        switch backend {
        case .single(let node):
            try refuseOnShared(commands)
            return try await node.sharedConnection.pipelineLoadingScripts(commands, then: followUp)
        case .cluster(let router):
            var replies = try await router.pipeline(commands)
            if let next = followUp(replies), let reply = try? await router.pipeline([next]) { replies += reply }
            return replies
        }
    }

    /// Sends a keyless command to every master of a cluster (to the one server otherwise) and
    /// returns their replies, e.g. `CONFIG GET` for a setting that must hold on every node.
    /// - Throws: ``RedisError``, including an error reply from any node.
    public func sendToEachMaster(_ command: RedisCommand) async throws -> [RESPValue] {
        switch backend {
        case .single(let node):
            try refuseOnShared(CollectionOfOne(command))
            return [try await node.sharedConnection.send(command)]
        case .cluster(let router): return try await router.sendToEachMaster(command)
        }
    }

    /// Sends a keyless command to every master of a cluster (to the one server otherwise) and
    /// returns each one's reply or error, by the node's redacted address, in the slot map's
    /// order: unlike ``sendToEachMaster(_:)``, a master that is down (or answers with an error)
    /// does not hide the others' replies.
    /// - Throws: ``RedisError`` only when a cluster's slot map cannot be read, or
    ///   `unsupportedCommand` for a transaction command on a cluster.
    public func resultsFromEachMaster(_ command: RedisCommand) async throws -> [MasterResult] {
        switch backend {
        case .single(let node):
            try refuseOnShared(CollectionOfOne(command))
            do {
                return [MasterResult(node: configuration.redactedURL, result: .success(try await node.sharedConnection.send(command)))]
            } catch let error as RedisError {
                return [MasterResult(node: configuration.redactedURL, result: .failure(error))]
            }
        case .cluster(let router):
            return try await router.resultsFromEachMaster(command).map { MasterResult(node: $0.node, result: $0.result) }
        }
    }

    /// One master's outcome in ``RedisClient/resultsFromEachMaster(_:)``.
    public struct MasterResult: Sendable {
        /// The node's address with any password replaced by `***`.
        public var node: String
        /// Its reply, or why there is none: an error reply, a refused connection, a timeout.
        public var result: Result<RESPValue, RedisError>
    }

    /// Runs a script with EVALSHA, loading it first if the server does not have it.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RESPValue {
        try await send(.evalSHA(script, keys: keys, arguments: arguments))
    }

    /// Leases a dedicated connection for the duration of `body`, e.g. for a blocking
    /// `XREADGROUP ... BLOCK` loop that must not stall the shared pipeline.
    ///
    /// On a cluster the connection goes to any master; use
    /// ``withDedicatedConnection(forKey:_:)`` for commands on keys.
    public func withDedicatedConnection<T>(_ body: (RedisConnection) async throws -> T) async throws -> T {
        try await withDedicatedConnection(forKey: nil, body)
    }

    /// Leases a dedicated connection to the server holding `key` (on a cluster, the master
    /// of its hash slot) for the duration of `body`.
    ///
    /// Every key `body` uses must hash to the same slot. A connection goes to one node: after
    /// a MOVED error or a lost connection the map is updated and the error rethrown, so lease
    /// again for the next command rather than keeping one lease across many.
    public func withDedicatedConnection<T>(forKey key: String?, _ body: (RedisConnection) async throws -> T) async throws -> T {
        switch backend {
        case .single(let node):
            let connection = try node.lease()
            defer { node.giveBack(connection) }
            return try await body(connection)
        case .cluster(let router):
            return try await router.withDedicatedConnection(forKey: key, body)
        }
    }

    /// Throws `unsupportedCommand` for commands that would leave a shared connection in a
    /// transaction or watching keys (``RedisCommand/sharedConnectionReason(_:)``).
    private func refuseOnShared(_ commands: some Sequence<RedisCommand>) throws(RedisError) {
        if let reason = RedisCommand.sharedConnectionReason(commands) {
            throw RedisError(code: .unsupportedCommand, message: reason, address: configuration.redactedURL)
        }
    }

    /// Whether this client routes over a Redis Cluster.
    public var isCluster: Bool {
        if case .cluster = backend { return true }
        return false
    }

    /// What the cluster router did so far; `nil` for a single server.
    package var clusterStatistics: ClusterStatistics? {
        guard case .cluster(let router) = backend else { return nil }
        return router.statistics
    }

    /// The cluster's masters as last read (empty before the first command, or for a single server).
    package var clusterMasters: [RedisAddress] {
        guard case .cluster(let router) = backend else { return [] }
        return router.masters
    }

    /// Fails everything in flight, closes every connection and joins its thread; idempotent.
    /// Shuts down the clients following this one too (``init(following:loop:)``), whose
    /// commands in flight fail on their loop's next turn, unwaited.
    public func shutdown() {
        let following = followers.withLock { state in
            state.isShutdown = true
            defer { state.clients.removeAll() }
            return Array(state.clients.values)
        }
        for follower in following { follower.shutdown() }
        switch backend {
        case .single(let node): node.shutdown()
        case .cluster(let router): router.shutdown()
        }
    }
}
