import Synchronization

extension RedisCluster {
    /// A whole slot migration at once (steps 1 to 3): `slot`, keys and all, from its master to
    /// another one. Returns the two.
    @discardableResult
    public func moveSlot(_ slot: Int) async throws -> (source: RedisServer, target: RedisServer) {
        let source = try await master(ofSlot: slot)
        let target = try await otherMaster(than: source)
        try await beginMigration(slot: slot, from: source, to: target)
        while try await migrateKeys(slot: slot, from: source, to: target) > 0 {}
        try await finishMigration(slot: slot, from: source, to: target)
        return (source, target)
    }

    /// Step 1 of a slot migration: `slot` becomes IMPORTING on `target` and MIGRATING on
    /// `source`. From here `source` answers ASK for keys of the slot it no longer has.
    public func beginMigration(slot: Int, from source: RedisServer, to target: RedisServer) async throws {
        let ids = try await nodeIDs()
        try await expectOK(target, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", ids[source.port] ?? ""])
        try await expectOK(source, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", ids[target.port] ?? ""])
    }

    /// Step 2: moves up to `limit` keys of `slot` from `source` to `target` with MIGRATE;
    /// returns how many moved (0 when none is left).
    @discardableResult
    public func migrateKeys(slot: Int, from source: RedisServer, to target: RedisServer, limit: Int = 100) async throws -> Int {
        let reply = try await command(source, ["CLUSTER", "GETKEYSINSLOT", String(slot), String(limit)])
        guard case .array(let items?) = reply else {
            throw RedisServerError(code: .commandFailed, message: "CLUSTER GETKEYSINSLOT: \(reply)")
        }
        let keys = items.compactMap(\.string)
        if keys.isEmpty { return 0 }
        try await expectOK(source, ["MIGRATE", target.host, String(target.port), "", "0", "5000", "KEYS"] + keys)
        return keys.count
    }

    /// Step 3: assigns `slot` to `target` on the two nodes involved, then on every other live
    /// node, ending the migration. From here `source` answers MOVED.
    public func finishMigration(slot: Int, from source: RedisServer, to target: RedisServer) async throws {
        let ids = try await nodeIDs()
        let assign = ["CLUSTER", "SETSLOT", String(slot), "NODE", ids[target.port] ?? ""]
        try await expectOK(target, assign)
        try await expectOK(source, assign)
        for node in liveNodes where node.port != source.port && node.port != target.port {
            // a replica may refuse; it learns the new owner through the cluster bus
            _ = try await command(node, assign)
        }
    }

    /// A manual failover: `CLUSTER FAILOVER` on `replica`, which waits for its master to
    /// hand over (no write is lost); returns once `replica` is a master.
    ///
    /// Redis aborts a manual failover the replica could not finish within 5 s (its
    /// `CLUSTER_MF_TIMEOUT`: on a starved machine the replica may not catch up with the paused
    /// master in time) and leaves the roles as they were; so a replica still a replica after
    /// 8 s is asked again, up to three times in all.
    public func failover(to replica: RedisServer) async throws {
        func isMaster() async throws -> String? {
            let role = try await command(replica, ["ROLE"])
            if case .array(let parts?) = role, parts.first?.string == "master" { return nil }
            return "role: \(role)"
        }
        for attempt in 1...3 {
            // (it may have become master just after the last wait gave up)
            if attempt > 1, try await isMaster() == nil { return }
            try await expectOK(replica, ["CLUSTER", "FAILOVER"])
            do {
                try await poll(within: .seconds(8), "node \(replica.port) is a master", isMaster)
                return
            } catch let error as RedisServerError where error.code == .timedOut && attempt < 3 {
                continue
            }
        }
    }

    /// Kills `node` with SIGKILL (no shutdown, no final fsync beyond `appendfsync`); its
    /// replica takes over once the other masters mark it failed (after `nodeTimeout`).
    public func kill(_ node: RedisServer) async {
        killedPorts.withLock { _ = $0.insert(node.port) }
        await node.kill()
    }

    /// Node ids by port.
    private func nodeIDs() async throws -> [Int: String] {
        Dictionary(try await topology().map { ($0.port, $0.id) }, uniquingKeysWith: { first, _ in first })
    }

    private func expectOK(_ node: RedisServer, _ arguments: [String]) async throws {
        let reply = try await command(node, arguments)
        guard reply.string == "OK" else {
            throw RedisServerError(code: .commandFailed, message: "\(arguments.prefix(3).joined(separator: " ")) on \(node.port): \(reply)")
        }
    }
}
