import SpoolTesting
import Testing
@testable import SpoolRedis

/// Routing against a real 3-master, 3-replica cluster that each test starts.
@Suite("Cluster: routing, pipelines, scripts, MOVED and ASK", .serialized)
struct ClusterRoutingTests {
    @Test("CLUSTER KEYSLOT of a live node agrees with RedisHashSlot")
    func keySlotsMatchServer() async throws {
        try await withRedisCluster { cluster in
            var generator = SystemRandomNumberGenerator()
            let keys = ["", "a", "foo", "spool:{orders}:stream", "x{}y", "{{a}}", "ünïcode", "{tag}rest"]
                + (0..<40).map { _ in String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36) }
            for key in keys {
                let slot = try await cluster.keySlot(key)
                #expect(slot == RedisHashSlot.of(key), "key \(key)")
            }

            // a redis:// (not redis-cluster://) client on one node: a key another master
            // serves gets MOVED, and the error says which URL to use
            let node = cluster.nodes[0]
            let plain = RedisClient(configuration: try RedisConfiguration(url: "redis://\(node.host):\(node.port)"))
            defer { plain.shutdown() }
            var elsewhere: String?
            for index in 0..<200 where elsewhere == nil {
                if try await cluster.master(ofSlot: RedisHashSlot.of("k\(index)")).port != node.port { elsewhere = "k\(index)" }
            }
            let key = try #require(elsewhere)
            await #expect {
                try await plain.send("GET", key)
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .redirected && error.message.contains("connect with a redis-cluster:// URL")
            }
        }
    }

    @Test("commands go to their slot's master; a pipeline over every master keeps its order")
    func routesAndSplitsPipelines() async throws {
        try await withClusterClient { cluster, client in
            let keys = (0..<300).map { "key:\($0)" }
            let sets = try await client.pipeline(keys.map { RedisCommand("SET", $0, "value-\($0)") })
            #expect(sets == Array(repeating: .simpleString("OK"), count: keys.count))
            // the keys landed on every master, each where its slot lives
            let masters = try await cluster.masters()
            #expect(masters.count == 3)
            var perMaster: [Int: Int] = [:]
            for master in masters {
                let count = try await cluster.command(master, ["DBSIZE"])
                if case .integer(let keys) = count { perMaster[master.port] = keys }
            }
            #expect(perMaster.values.allSatisfy { $0 > 0 } && perMaster.values.reduce(0, +) == keys.count, "\(perMaster)")
            // interleaved reads and writes over all nodes come back in order
            let mixed = keys.flatMap { [RedisCommand("GET", $0), RedisCommand("STRLEN", $0)] }
            let replies = try await client.pipeline(mixed)
            for (index, key) in keys.enumerated() {
                #expect(replies[2 * index].string == "value-\(key)")
                #expect(replies[2 * index + 1] == .integer(Int64("value-\(key)".utf8.count)))
            }
            #expect(try await client.send("GET", "key:7").string == "value-key:7")
            #expect(try await client.send("PING").string == "PONG")
            #expect(client.clusterMasters.count == 3)
        }
    }

    @Test("pipeline(_:then:) on a cluster: the follow-up made from the replies goes to its slot's master")
    func followUp() async throws {
        try await withClusterClient { _, client in
            let replies = try await client.pipeline([RedisCommand("SET", "{q}:name", "{q}:value"), RedisCommand("GET", "{q}:name")]) { replies in
                replies[1].string.map { RedisCommand("EXISTS", $0) }
            }
            #expect(replies == [.simpleString("OK"), .bulkString(Array("{q}:value".utf8)), .integer(0)])
            let alone = try await client.pipeline([RedisCommand("GET", "{q}:name")]) { _ in nil }
            #expect(alone == [.bulkString(Array("{q}:value".utf8))])
        }
    }

    @Test("a script is loaded on each node that lacks it; errors stay in their place")
    func scriptsPerNode() async throws {
        try await withClusterClient { cluster, client in
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            let keys = (0..<30).map { "{counter\($0)}:n" }
            let first = try await client.pipeline(keys.map { .evalSHA(script, keys: [$0], arguments: ["2"]) } + [RedisCommand("NOSUCHCOMMAND")])
            #expect(Array(first.prefix(keys.count)) == Array(repeating: .integer(2), count: keys.count))
            #expect(first.last?.errorMessage?.hasPrefix("ERR unknown command") == true)
            for master in try await cluster.masters() {
                let exists = try await cluster.command(master, ["SCRIPT", "EXISTS", script.sha1])
                #expect(exists == .array([.integer(1)]), "node \(master.port) has the script")
            }
            #expect(try await client.evaluate(script, keys: [keys[0]], arguments: ["1"]) == .integer(3))
        }
    }

    @Test("a pipeline with a command whose slot the client saw unserved sends each other command once, to its own master")
    func pipelineWithAnUnservedSlot() async throws {
        try await withRedisCluster { cluster in
            let unserved = RedisHashSlot.of("lonely")
            #expect(RedisHashSlot.of("{pair}:a") != unserved)
            for master in try await cluster.masters() {
                // the other slots stay served while one has no master
                _ = try await cluster.command(master, ["CONFIG", "SET", "cluster-require-full-coverage", "no"])
                _ = try await cluster.command(master, ["CLUSTER", "DELSLOTS", "\(unserved)"])
            }
            let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
            defer { client.shutdown() }
            #expect(try await client.send("SET", "{pair}:b", "10").string == "OK")   // reads the map: slot unserved
            // the master of {pair} takes the slot; the client's map still shows it unserved
            let owner = try await cluster.master(ofSlot: RedisHashSlot.of("{pair}:a"))
            _ = try await cluster.command(owner, ["CLUSTER", "ADDSLOTS", "\(unserved)"])
            let replies = try await client.pipeline([
                RedisCommand("INCR", "{pair}:a"), RedisCommand("INCR", "lonely"), RedisCommand("INCR", "{pair}:b"),
            ])
            // "lonely" was routed after the map was read again; the other two went to their
            // master alone (sending "lonely" there with them ran it twice and shifted replies)
            #expect(replies == [.integer(1), .integer(1), .integer(11)])
            #expect(try await cluster.command(owner, ["GET", "lonely"]) == .bulk("1"))
        }
    }

    @Test("during a slot migration the client follows ASK, and MOVED after it")
    func followsAskThenMoved() async throws {
        try await withClusterClient { cluster, client in
            let keys = (0..<20).map { "{migrating}:\($0)" }
            let slot = RedisHashSlot.of(keys[0])
            _ = try await client.pipeline(keys.map { RedisCommand("SET", $0, "v") })
            let source = try await cluster.master(ofSlot: slot)
            let target = try await cluster.otherMaster(than: source)

            try await cluster.beginMigration(slot: slot, from: source, to: target)
            #expect(try await cluster.migrateKeys(slot: slot, from: source, to: target, limit: 10) == 10)
            // half the keys moved: reads of those are ASKed to the target, the others answered here
            let reads = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
            #expect(reads == Array(repeating: .bulkString(Array("v".utf8)), count: keys.count))
            // a new key of a migrating slot is created on the target, through ASK
            #expect(try await client.send("SET", "{migrating}:new", "n").string == "OK")
            let asked = try #require(client.clusterStatistics).asked
            #expect(asked >= 10)
            #expect(client.clusterStatistics?.moved == 0)

            while try await cluster.migrateKeys(slot: slot, from: source, to: target) > 0 {}
            try await cluster.finishMigration(slot: slot, from: source, to: target)
            #expect(try await client.send("GET", keys[0]).string == "v")
            #expect(try await client.send("GET", "{migrating}:new").string == "n")
            #expect((client.clusterStatistics?.moved ?? 0) >= 1)
            // once the map was reread, commands go straight to the new owner
            let moved = client.clusterStatistics?.moved ?? 0
            _ = try await client.pipeline(keys.map { RedisCommand("GET", $0) })
            #expect(client.clusterStatistics?.moved == moved)
        }
    }

    /// The MOVED a leased connection's command threw was not recognised (its message carries
    /// a hint after the server's text), so the map kept the old owner and every later lease
    /// went there again.
    @Test("a MOVED inside a dedicated connection's lease updates the map: the next lease goes to the new owner")
    func movedInsideALease() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
            defer { client.shutdown() }
            let key = "{leased}:k"
            let slot = RedisHashSlot.of(key)
            #expect(try await client.send("SET", key, "v").string == "OK")   // reads the map
            let target = try await cluster.moveSlot(slot).target
            let before = try #require(client.clusterStatistics)

            // the client's map still names the old owner: the lease goes there and meets MOVED,
            // and says what a cluster client does about it (not to use the URL it has already)
            await #expect {
                try await client.withDedicatedConnection(forKey: key) { connection in
                    try await connection.send(RedisCommand("GET", key))
                }
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .redirected && error.message.hasPrefix("MOVED ")
                    && error.message.contains("hash slot moved to another master") && !error.message.contains("redis-cluster://")
            }
            #expect(client.clusterStatistics?.moved == before.moved + 1)
            let value = try await client.withDedicatedConnection(forKey: key) { connection in
                try await connection.send(RedisCommand("GET", key))
            }
            #expect(value.string == "v")
            let port = try await client.withDedicatedConnection(forKey: key) { connection in
                try await connection.send(RedisCommand("CONFIG", "GET", "port"))
            }
            #expect(port == .array([.bulkString(Array("port".utf8)), .bulkString(Array(String(target.port).utf8))]))
        }
    }

    /// Keyless commands all went to the map's first master (the one serving slot 0): with it
    /// down and no replica to take over (`cluster-require-full-coverage no` keeps the other
    /// slots served), PING failed after the whole retry budget though two masters answered.
    @Test("PING is answered by another master while the map's first master is down; with every master down the error names each, password redacted")
    func keylessCommandsSurviveADeadMaster() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            let first = try await cluster.master(ofSlot: 0)
            // a key of another master, to show the cluster still serves it
            var key = ""
            for index in 0..<1000 where key.isEmpty {
                if try await cluster.master(ofSlot: RedisHashSlot.of("key:\(index)")).port != first.port { key = "key:\(index)" }
            }
            let password = "canary-\(UInt64.random(in: 0...UInt64.max))"
            try await Self.configure(cluster, ["cluster-require-full-coverage", "no"], ["requirepass", password])
            let seeds = cluster.nodes.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
            let client = RedisClient(configuration: try RedisConfiguration(url: "redis-cluster://:\(password)@\(seeds)"))
            defer { client.shutdown() }
            #expect(try await client.send("PING").string == "PONG")
            let masters = client.clusterMasters
            try #require(masters.count == 3 && !key.isEmpty)
            #expect(masters[0].port == first.port, "the master of slot 0 leads the slot map")
            #expect(try await client.send("SET", key, "v").string == "OK")

            await cluster.kill(first)
            #expect(try await client.send("PING").string == "PONG")
            #expect(try await client.send("ECHO", "still here").string == "still here")
            #expect(try await client.send("GET", key).string == "v")
            // a new client (a restarted worker) reads the map from a live seed and PINGs too
            let fresh = RedisClient(configuration: try RedisConfiguration(url: "redis-cluster://:\(password)@\(seeds)"))
            defer { fresh.shutdown() }
            #expect(try await fresh.send("PING").string == "PONG")
            #expect(fresh.clusterMasters.first == masters[0], "the dead master still leads the slot map")

            for master in masters.dropFirst() { await cluster.kill(try #require(cluster.node(port: master.port))) }
            do {
                let reply = try await client.send("PING")
                Issue.record("PING with every master down answered \(reply)")
            } catch let error as RedisError {
                let text = "\(error)"
                #expect(error.code == .connectionFailed || error.code == .connectionClosed, "\(text)")
                #expect(text.contains("no cluster master answered PING"), "\(text)")
                for master in masters { #expect(text.contains("redis://:***@\(master)"), "\(master) in \(text)") }
                #expect(!text.contains(password), "\(text)")
            }
            // a new client cannot even read the map: its error names every seed it asked
            var configuration = try RedisConfiguration(url: "redis-cluster://:\(password)@\(seeds)")
            configuration.cluster?.maxAttempts = 2
            let late = RedisClient(configuration: configuration)
            defer { late.shutdown() }
            do {
                let reply = try await late.send("PING")
                Issue.record("PING with every master down answered \(reply)")
            } catch let error as RedisError {
                let text = "\(error)"
                #expect(text.contains("no cluster node answered CLUSTER SLOTS"), "\(text)")
                for node in cluster.nodes { #expect(text.contains("redis://:***@127.0.0.1:\(node.port)"), "\(node.port) in \(text)") }
                #expect(!text.contains(password), "\(text)")
            }
        }
    }

    /// A frozen master (SIGSTOP: connections stay open, nothing is answered) timed a keyless
    /// command out instead of letting another master answer it.
    @Test("PING is answered by another master within its timeout while the map's first master is frozen")
    func keylessCommandsSurviveAFrozenMaster() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            try await Self.configure(cluster, ["cluster-require-full-coverage", "no"])
            // the /healthz client's timeouts
            var configuration = try RedisConfiguration(url: cluster.url)
            configuration.connectTimeout = .seconds(1)
            configuration.commandTimeout = .seconds(1)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            #expect(try await client.send("PING").string == "PONG")
            let firstAddress = try #require(client.clusterMasters.first)
            let first = try #require(cluster.node(port: firstAddress.port))
            first.pause()
            defer { first.resume() }
            #expect(try await client.send("PING").string == "PONG")
            // The master that answered is asked first from now on: no second timeout. Asked first
            // again, the frozen master would cost every PING its 1 s timeout; the quickest of five
            // shows it is not, even when the loaded machine holds some of them up.
            var quickest = Duration.seconds(3600)
            for _ in 0..<5 {
                let start = ContinuousClock.now
                let again = try await client.send("PING")
                quickest = min(quickest, ContinuousClock.now - start)
                #expect(again.string == "PONG")
            }
            #expect(quickest < .milliseconds(900), "the quickest of five PINGs took \(quickest)")
        }
    }

    /// Sets each `[name, value]` on every node with CONFIG SET.
    private static func configure(_ cluster: RedisCluster, _ settings: [String]...) async throws {
        for node in cluster.nodes {
            for setting in settings {
                let reply = try await cluster.command(node, ["CONFIG", "SET"] + setting)
                try #require(reply.string == "OK", "CONFIG SET \(setting[0]) on \(node.port): \(reply)")
            }
        }
    }
}

/// Starts a cluster and runs `body` with a client routing over it.
private func withClusterClient(_ body: (RedisCluster, RedisClient) async throws -> Void) async throws {
    try await withRedisCluster { cluster in
        let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
        defer { client.shutdown() }
        try await body(cluster, client)
    }
}

extension RedisAddress {
    /// The port of a TCP address (0 for a unix socket).
    fileprivate var port: Int {
        if case .tcp(_, let port) = self { return port }
        return 0
    }
}
