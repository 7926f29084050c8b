import Logging
import Synchronization

/// Routes commands over a Redis Cluster: a slot map from `CLUSTER SLOTS`, the connections of
/// each node, and the redirections (MOVED, ASK) and retries (CLUSTERDOWN, TRYAGAIN, a lost
/// connection) that keep commands flowing while slots migrate and masters fail over.
///
/// The map is read on first use, after each MOVED (at most every 100 ms; the moved slot is
/// patched at once) and after each transient failure. Nodes are kept by address until
/// shutdown, so a failed master that comes back as a replica reuses its connections.
final class ClusterRouter: Sendable {
    let configuration: RedisConfiguration
    let settings: RedisConfiguration.Cluster
    let logger: Logger
    private let ids = ConnectionIDs()
    let state: Mutex<State>

    struct State {
        var nodes: [RedisAddress: NodeConnections] = [:]
        /// The node serving each slot; empty until the map was first read.
        var routes: [NodeConnections?] = []
        var masters: [RedisAddress] = []
        /// The master that last answered a keyless command; keyless commands go there first.
        var keylessMaster: RedisAddress?
        var refreshedAt: ContinuousClock.Instant?
        var refreshing = false
        /// Orders the map reads, so that an older one never replaces a newer one.
        var reads = MapReads()
        var isShutdown = false
        var statistics = ClusterStatistics()
    }

    /// The shortest time between two map reads that are not forced by a failure.
    private static let refreshInterval: Duration = .milliseconds(100)

    init(configuration: RedisConfiguration, cluster: RedisConfiguration.Cluster, logger: Logger) {
        self.configuration = configuration
        self.settings = cluster
        self.logger = logger
        self.state = Mutex(State())
    }

    /// The connections to the node at `address`, made on first use.
    ///
    /// After ``shutdown()`` a node made now (a MOVED or ASK target, a node named by a map
    /// read that was under way) is shut down at once: it fails what is sent to it as shut
    /// down, and opens no connection.
    func node(at address: RedisAddress) -> NodeConnections {
        state.withLock { node(at: address, in: &$0) }
    }

    private func node(at address: RedisAddress, in state: inout State) -> NodeConnections {
        if let existing = state.nodes[address] { return existing }
        var nodeConfiguration = configuration
        nodeConfiguration.address = address
        nodeConfiguration.cluster = nil
        let created = NodeConnections(configuration: nodeConfiguration, ids: ids, logger: logger)
        // (its threads wait for work and end at once: no caller waits long on the lock)
        if state.isShutdown { created.shutdown() }
        state.nodes[address] = created
        return created
    }

    /// The node serving `slot`, reading the map first if needed; `nil` while no node serves
    /// the slot. For `nil` (a keyless command), the master that last answered a keyless
    /// command if it is still a master, else the first master of the map.
    func route(_ slot: Int?) async throws -> NodeConnections? {
        if let known = lookUp(slot) { return known }
        try await refresh(force: true)
        return lookUp(slot) ?? nil
    }

    /// The route from the current map: `nil` when there is no map yet, `.some(nil)` when no
    /// node serves the slot.
    private func lookUp(_ slot: Int?) -> NodeConnections?? {
        state.withLock { state in
            if state.routes.isEmpty { return nil }
            guard let slot else {
                let master = state.keylessMaster.flatMap { state.masters.contains($0) ? $0 : nil } ?? state.masters.first
                return .some(master.map { state.nodes[$0]! })
            }
            return .some(state.routes[slot])
        }
    }

    /// Reads the slot map from the first node that answers `CLUSTER SLOTS`: known masters,
    /// then the seeds, then any other node seen.
    ///
    /// Unless `force`d, does nothing when another read is running or one finished within the
    /// last 100 ms.
    /// - Throws: when none answered, the last node's error (its code; its message names every
    ///   node asked and its failure when there were several); `shutdown` after ``shutdown()``.
    ///
    /// `avoiding` (a node that just timed out) is asked last: a frozen master asked first
    /// would make the caller wait a second timeout before the map is read elsewhere.
    func refresh(force: Bool, avoiding: RedisAddress? = nil) async throws {
        let (candidates, isShutdown): ([RedisAddress]?, Bool) = state.withLock { state in
            let now = ContinuousClock.now
            if state.isShutdown { return (nil, true) }
            if !state.routes.isEmpty {
                if state.refreshing && !force { return (nil, false) }
                if !force, let at = state.refreshedAt, now - at < Self.refreshInterval { return (nil, false) }
            }
            state.refreshing = true
            var ordered = state.masters
            for address in settings.seeds + Array(state.nodes.keys) where !ordered.contains(address) {
                ordered.append(address)
            }
            return (Self.askingLast(avoiding, in: ordered), false)
        }
        if isShutdown {
            throw RedisError(code: .shutdown, message: "the client was shut down", address: configuration.redactedURL)
        }
        guard let candidates else { return }
        defer { state.withLock { $0.refreshing = false } }
        var lastError = RedisError(code: .connectionFailed, message: "no cluster seed node configured", address: configuration.redactedURL)
        var failures: [String] = []
        for address in candidates {
            let node = node(at: address)
            do {
                let read = state.withLock { $0.reads.send() }
                let reply = try await node.sharedConnection.send(RedisCommand("CLUSTER", "SLOTS"))
                let map = try SlotMap(clusterSlots: reply, host: Self.host(of: node))
                if map.masters.isEmpty { continue }
                install(map, read: read)
                return
            } catch let error as RedisError {
                lastError = error
                failures.append("\(node.configuration.redactedURL) (\(error.code): \(error.message))")
            }
        }
        if failures.count > 1 {
            // name every node asked, not just the last
            lastError.message = "no cluster node answered CLUSTER SLOTS; tried " + failures.joined(separator: ", ")
            lastError.address = configuration.redactedURL
        }
        throw lastError
    }

    /// `candidates` with `address` (if among them) moved to the end.
    static func askingLast(_ address: RedisAddress?, in candidates: [RedisAddress]) -> [RedisAddress] {
        guard let address, let index = candidates.firstIndex(of: address) else { return candidates }
        var ordered = candidates
        ordered.append(ordered.remove(at: index))
        return ordered
    }

    /// Installs `map`, unless a map from a later read (or a MOVED) was installed meanwhile:
    /// forced reads run side by side, and the one sent first may answer last.
    private func install(_ map: SlotMap, read: UInt64) {
        let installed = state.withLock { state in
            guard state.reads.mayInstall(read) else { return false }
            var byIndex: [NodeConnections] = []
            for address in map.masters { byIndex.append(node(at: address, in: &state)) }
            state.routes = (0..<RedisHashSlot.count).map { slot in
                map.master(of: slot).flatMap { address in byIndex[map.masters.firstIndex(of: address)!] }
            }
            state.masters = map.masters
            state.refreshedAt = .now
            state.statistics.refreshes += 1
            return true
        }
        guard installed else {
            logger.debug("redis cluster slot map read skipped: a later one was installed")
            return
        }
        logger.debug("redis cluster slot map read", metadata: ["redis.cluster.masters": "\(map.masters.count)",
                                                              "redis.cluster.covered": "\(map.coveredSlots)"])
    }

    /// Points `slot` at `address` after a MOVED reply, then rereads the whole map (a slot
    /// rarely moves alone).
    func moved(_ slot: Int, to address: RedisAddress) async {
        state.withLock { state in
            if state.routes.isEmpty { return }
            state.routes[slot] = node(at: address, in: &state)
            state.reads.patched()
            state.statistics.moved += 1
        }
        logger.debug("redis cluster MOVED", metadata: ["redis.cluster.slot": "\(slot)", "redis.cluster.node": "\(address)"])
        try? await refresh(force: false)
    }

    /// Sends `command` to each master of the current map, one after another.
    func sendToEachMaster(_ command: RedisCommand) async throws -> [RESPValue] {
        try refuseUnsupported([command])
        _ = try await route(nil)
        let masters = state.withLock { state in state.masters.compactMap { state.nodes[$0] } }
        var replies: [RESPValue] = []
        for master in masters { replies.append(try await master.sharedConnection.send(command)) }
        return replies
    }

    /// Sends `command` to each master of the current map, one after another, and returns
    /// each master's reply or error (an error reply, an unreachable node, a timeout) by its
    /// redacted address, in the map's order.
    /// - Throws: ``RedisError`` only when no slot map can be read, or `unsupportedCommand`
    ///   for a transaction command (``RedisCommand/clusterUnsupportedReason``).
    func resultsFromEachMaster(_ command: RedisCommand) async throws -> [(node: String, result: Result<RESPValue, RedisError>)] {
        try refuseUnsupported([command])
        _ = try await route(nil)
        let masters = state.withLock { state in state.masters.compactMap { state.nodes[$0] } }
        var results: [(node: String, result: Result<RESPValue, RedisError>)] = []
        for master in masters {
            let result: Result<RESPValue, RedisError>
            do {
                result = .success(try await master.sharedConnection.send(command))
            } catch let error as RedisError {
                result = .failure(error)
            }
            results.append((master.configuration.redactedURL, result))
        }
        return results
    }

    /// Records that `address` answered a keyless command: the next ones go there first.
    func keylessAnswered(by address: RedisAddress) {
        state.withLock { state in
            if state.keylessMaster != address { state.keylessMaster = address }
        }
    }

    /// The masters of the current map in the order a keyless command tries them: the one that
    /// last answered a keyless command, then the others in the map's order; without those in
    /// `skipping`.
    func keylessCandidates(skipping: Set<RedisAddress>) -> [NodeConnections] {
        state.withLock { state in
            var order = state.masters
            if let preferred = state.keylessMaster, let index = order.firstIndex(of: preferred), index > 0 {
                order.remove(at: index)
                order.insert(preferred, at: 0)
            }
            return order.compactMap { skipping.contains($0) ? nil : state.nodes[$0] }
        }
    }

    /// What the router did so far.
    var statistics: ClusterStatistics { state.withLock { $0.statistics } }

    /// The master addresses of the current map, for tests and diagnostics.
    var masters: [RedisAddress] { state.withLock { $0.masters } }

    /// Fails everything in flight and closes every node's connections; idempotent.
    func shutdown() {
        let nodes = state.withLock { state in
            state.isShutdown = true
            return Array(state.nodes.values)
        }
        for node in nodes { node.shutdown() }
    }

    static func host(of node: NodeConnections) -> String {
        if case .tcp(let host, _) = node.configuration.address { return host }
        return "127.0.0.1"
    }
}

/// Counts of what the cluster router did, for tests and diagnostics.
package struct ClusterStatistics: Sendable, Equatable {
    /// MOVED replies followed.
    package var moved = 0
    /// ASK replies followed.
    package var asked = 0
    /// Commands sent again after CLUSTERDOWN, TRYAGAIN or a lost connection.
    package var retried = 0
    /// Slot map reads.
    package var refreshes = 0
}

/// The order of slot-map reads: each `CLUSTER SLOTS` is numbered as it is sent, and a map is
/// installed only when no read sent after it (and no MOVED patch made after it was sent) was
/// installed first. Without it, of two forced reads under way at once, the one sent first
/// could answer last and put back the older map (a slot's old owner, until the next MOVED).
struct MapReads {
    /// The number of the last read sent.
    private(set) var sent: UInt64 = 0
    /// Reads numbered up to this one may no longer be installed.
    private(set) var settled: UInt64 = 0

    /// Numbers a read about to be sent.
    mutating func send() -> UInt64 {
        sent += 1
        return sent
    }

    /// Whether the map of read `read` may be installed; if so, the reads sent before it may
    /// no longer be.
    mutating func mayInstall(_ read: UInt64) -> Bool {
        guard read > settled else { return false }
        settled = read
        return true
    }

    /// A MOVED patched the map: the reads sent before it knew less.
    mutating func patched() {
        settled = sent
    }
}
