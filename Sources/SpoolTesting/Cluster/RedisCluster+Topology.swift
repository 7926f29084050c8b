extension RedisCluster {
    /// One line of `CLUSTER NODES`: a node as some node sees it.
    public struct NodeInfo: Sendable, Hashable {
        /// The node id.
        public var id: String
        /// Its port on 127.0.0.1.
        public var port: Int
        /// Whether it is a master (else a replica).
        public var isMaster: Bool
        /// The id of its master, for a replica.
        public var masterID: String?
        /// Whether it is flagged `fail` or `fail?`.
        public var isFailing: Bool
        /// The slot ranges it serves (masters only).
        public var slots: [ClosedRange<Int>]

        /// Parses a `CLUSTER NODES` line; `nil` for anything else.
        init?(line: Substring) {
            let fields = line.split(separator: " ")
            guard fields.count >= 8 else { return nil }
            let endpoint = fields[1].prefix { $0 != "@" && $0 != "," }
            guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else { return nil }
            let flags = fields[2].split(separator: ",")
            id = String(fields[0])
            self.port = port
            isMaster = flags.contains("master")
            masterID = fields[3] == "-" ? nil : String(fields[3])
            isFailing = flags.contains("fail") || flags.contains("fail?")
            slots = fields.dropFirst(8).compactMap { field -> ClosedRange<Int>? in
                if field.hasPrefix("[") { return nil }   // a migrating/importing marker
                let bounds = field.split(separator: "-").compactMap { Int($0) }
                guard let low = bounds.first, let high = bounds.last else { return nil }
                return low...high
            }
        }
    }

    /// Sends a command to `node` on a fresh connection; an error reply is returned, not thrown.
    public func command(_ node: RedisServer, _ arguments: [String]) async throws -> RedisProbe.Reply {
        try await RedisProbe(endpoint: .tcp(host: node.host, port: node.port), timeout: .seconds(5)).pipeline([arguments])[0]
    }

    /// `CLUSTER NODES` as `node` (by default the first live one) sees the cluster.
    public func topology(from node: RedisServer? = nil) async throws -> [NodeInfo] {
        guard let asked = node ?? liveNodes.first else { return [] }
        let text = try await command(asked, ["CLUSTER", "NODES"]).string ?? ""
        return text.split(whereSeparator: \.isNewline).compactMap(NodeInfo.init(line:))
    }

    /// The live masters that serve slots.
    public func masters() async throws -> [RedisServer] {
        try await topology().filter { $0.isMaster && !$0.isFailing && !$0.slots.isEmpty }.compactMap { node(port: $0.port) }
    }

    /// The master serving `slot`.
    public func master(ofSlot slot: Int) async throws -> RedisServer {
        let info = try await topology().first { $0.isMaster && !$0.isFailing && $0.slots.contains { $0.contains(slot) } }
        guard let info, let server = node(port: info.port) else {
            throw RedisServerError(code: .commandFailed, message: "no master serves slot \(slot)")
        }
        return server
    }

    /// A live master serving slots other than `source`: where to move one of `source`'s slots.
    public func otherMaster(than source: RedisServer) async throws -> RedisServer {
        guard let other = try await masters().first(where: { $0.port != source.port }) else {
            throw RedisServerError(code: .commandFailed, message: "no master besides port \(source.port)")
        }
        return other
    }

    /// A live replica of `master`, waiting up to `limit` for one: on a loaded machine a node
    /// may flag a healthy replica `fail?` for a moment (its 1 s node timeout passed without a
    /// pong), and one such look is no reason to fail.
    /// - Throws: `RedisServerError` `.timedOut` when no live replica showed within `limit`.
    public func replica(of master: RedisServer, within limit: Duration = .seconds(10)) async throws -> RedisServer {
        var found: RedisServer?
        try await poll(within: limit, "master on port \(master.port) has a live replica") {
            let all = try await topology()
            guard let masterID = all.first(where: { $0.port == master.port })?.id else { return "the master is not in CLUSTER NODES" }
            found = all.lazy
                .filter { $0.masterID == masterID && !$0.isFailing }
                .compactMap { self.node(port: $0.port) }
                .first { !self.isKilled($0) }
            return found == nil ? "no replica of it is up" : nil
        }
        guard let found else { throw RedisServerError(code: .commandFailed, message: "master on port \(master.port) has no live replica") }
        return found
    }

    /// The hash slot of `key`, from `CLUSTER KEYSLOT`.
    public func keySlot(_ key: String) async throws -> Int {
        guard let node = liveNodes.first, case .integer(let slot) = try await command(node, ["CLUSTER", "KEYSLOT", key]) else {
            throw RedisServerError(code: .commandFailed, message: "CLUSTER KEYSLOT failed")
        }
        return slot
    }

    /// Waits until every live node reports `cluster_state:ok` with all slots served, all
    /// live nodes agree which master serves which slots, and every live replica's link to
    /// its master is up.
    /// - Throws: `RedisServerError` `.timedOut` with the last observation after `limit`.
    public func waitUntilHealthy(within limit: Duration = .seconds(30)) async throws {
        try await poll(within: limit, "the cluster is healthy") {
            var views: Set<[String]> = []
            for node in self.liveNodes {
                let info = try await self.command(node, ["CLUSTER", "INFO"]).string ?? ""
                guard info.contains("cluster_state:ok"), info.contains("cluster_slots_ok:\(16384)") else {
                    return "node \(node.port): \(info.split(whereSeparator: \.isNewline).prefix(3).joined(separator: " "))"
                }
                let view = try await self.topology(from: node)
                views.insert(view.filter { $0.isMaster && !$0.slots.isEmpty && !$0.isFailing }
                    .map { "\($0.port):\($0.slots)" }.sorted())
                let replication = try await self.command(node, ["INFO", "replication"]).string ?? ""
                if replication.contains("role:slave") && !replication.contains("master_link_status:up") {
                    return "replica \(node.port) not in sync"
                }
            }
            return views.count == 1 ? nil : "nodes disagree about the slots: \(views)"
        }
    }

    /// Polls `check` (which returns why the condition does not hold yet, or `nil`) every 50 ms.
    func poll(within limit: Duration, _ what: String, _ check: () async throws -> String?) async throws {
        let deadline = ContinuousClock.now + limit
        var last = "not checked"
        while true {
            do {
                guard let reason = try await check() else { return }
                last = reason
            } catch {
                last = "\(error)"
            }
            if ContinuousClock.now >= deadline {
                throw RedisServerError(code: .timedOut, message: "timed out after \(limit) waiting until \(what): \(last)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
