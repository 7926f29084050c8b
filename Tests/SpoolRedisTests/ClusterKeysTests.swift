import Testing
@testable import SpoolRedis

@Suite("Cluster: hash slots, command keys, slot maps, redirections")
struct ClusterKeysTests {
    @Test("CRC16/XMODEM matches the check value of the spec")
    func crc16() {
        #expect(CRC16.xmodem(Array("123456789".utf8)) == 0x31C3)
        #expect(CRC16.xmodem([UInt8]()) == 0)
    }

    @Test("hash slots follow the hash-tag rules of the cluster spec")
    func hashTags() {
        #expect(RedisHashSlot.of("123456789") == 0x31C3 & 0x3FFF)
        #expect(RedisHashSlot.of("foo") == 12182)
        #expect(RedisHashSlot.of("bar") == 5061)
        #expect(RedisHashSlot.of("{user1000}.following") == RedisHashSlot.of("{user1000}.followers"))
        #expect(RedisHashSlot.of("{user1000}.following") == RedisHashSlot.of("user1000"))
        // an empty tag hashes the whole key; only the first tag counts
        #expect(RedisHashSlot.of("foo{}{bar}") == Int(CRC16.xmodem(Array("foo{}{bar}".utf8)) & 0x3FFF))
        #expect(RedisHashSlot.of("foo{{bar}}zap") == RedisHashSlot.of("{bar"))
        #expect(RedisHashSlot.of("foo{bar}{zap}") == RedisHashSlot.of("bar"))
        #expect(RedisHashSlot.of("spool:{orders}:stream") == RedisHashSlot.of("spool:{orders}:retry:default"))
    }

    @Test("the routing key of each command kind")
    func routingKeys() {
        #expect(RedisCommand("GET", "k").routingKeyIndex == 1)
        #expect(RedisCommand("EVALSHA", "abc", "2", "k1", "k2", "a").routingKeyIndex == 3)
        #expect(RedisCommand("EVALSHA", "abc", "0", "a").routingKeyIndex == nil)
        let read = RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "BLOCK", "0", "streams", "s1", "s2", ">", ">")
        #expect(read.routingKeyIndex == 9)
        #expect(RedisCommand("XREAD", "COUNT", "1", "STREAMS", "s", "0").routingKeyIndex == 4)
        #expect(RedisCommand("XINFO", "GROUPS", "s").routingKeyIndex == 2)
        #expect(RedisCommand("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM").routingKeyIndex == 2)
        #expect(RedisCommand("XGROUP", "HELP").routingKeyIndex == nil)
        #expect(RedisCommand("MEMORY", "USAGE", "k").routingKeyIndex == 2)
        #expect(RedisCommand("MEMORY", "STATS").routingKeyIndex == nil)
        for keyless in [["PING"], ["INFO", "server"], ["SCRIPT", "LOAD", "return 1"], ["CLIENT", "SETNAME", "x"], ["CLUSTER", "SLOTS"]] {
            #expect(RedisCommand(keyless[0], Array(keyless.dropFirst())).routingKeyIndex == nil, "\(keyless)")
        }
        #expect(RedisCommand("SADD", "spool:queues", "q").hashSlot == RedisHashSlot.of("spool:queues"))
    }

    /// The stream key was found after the first argument spelled "streams", which may be the
    /// group or the consumer: such a read went to the slot of `>` or of the consumer name.
    @Test("XREAD/XREADGROUP: the key after the STREAMS keyword, not after a group or consumer named streams")
    func streamReadKeys() {
        let cases: [(arguments: [String], key: Int?)] = [
            (["XREADGROUP", "GROUP", "streams", "c1", "COUNT", "1", "STREAMS", "spool:{q}:stream", ">"], 7),
            (["XREADGROUP", "GROUP", "STREAMS", "c1", "STREAMS", "s", ">"], 5),
            (["XREADGROUP", "GROUP", "g", "streams", "STREAMS", "s", ">"], 5),
            (["XREADGROUP", "GROUP", "streams", "STREAMS", "BLOCK", "100", "NOACK", "STREAMS", "s", ">"], 8),
            (["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"], 5),
            (["xreadgroup", "group", "g", "c", "count", "5", "block", "0", "noack", "streams", "s1", "s2", ">", ">"], 10),
            (["XREADGROUP", "COUNT", "1", "GROUP", "g", "c", "STREAMS", "s", ">"], 7),
            (["XREAD", "STREAMS", "s", "0"], 2),
            (["XREAD", "COUNT", "1", "BLOCK", "10", "STREAMS", "s", "$"], 6),
            // not a valid read: no key to route by
            (["XREADGROUP", "GROUP", "g", "c", "STREAMS"], nil),
            (["XREADGROUP", "GROUP", "g"], nil),
            (["XREAD", "BOGUS", "STREAMS", "s", "0"], nil),
        ]
        for (arguments, key) in cases {
            let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
            #expect(command.routingKeyIndex == key, "\(arguments.joined(separator: " "))")
        }
        let read = RedisCommand("XREADGROUP", "GROUP", "streams", "c1", "COUNT", "1", "STREAMS", "spool:{q}:stream", ">")
        #expect(read.hashSlot == RedisHashSlot.of("{q}"))
    }

    @Test("a CLUSTER SLOTS reply becomes a slot map")
    func slotMap() throws {
        func node(_ host: String, _ port: Int) -> RESPValue {
            .array([.bulkString(Array(host.utf8)), .integer(Int64(port)), .bulkString(Array("id\(port)".utf8))])
        }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node("10.0.0.1", 7000), node("10.0.0.4", 7003)]),
            .array([.integer(5461), .integer(10922), node("", 7001)]),
            .array([.integer(10923), .integer(16383), node("10.0.0.3", 7002)]),
            .array([.integer(16000), .integer(16000), node("10.0.0.1", 7000)]),
        ])
        var map = try SlotMap(clusterSlots: reply, host: "10.0.0.9")
        #expect(map.masters == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.9", port: 7001), .tcp(host: "10.0.0.3", port: 7002)])
        #expect(map.master(of: 0) == .tcp(host: "10.0.0.1", port: 7000))
        #expect(map.master(of: 5461) == .tcp(host: "10.0.0.9", port: 7001))
        #expect(map.master(of: 16000) == .tcp(host: "10.0.0.1", port: 7000))
        #expect(map.master(of: 16383) == .tcp(host: "10.0.0.3", port: 7002))
        #expect(map.coveredSlots == 16384)
        map.assign(42, to: .tcp(host: "10.0.0.5", port: 7005))
        #expect(map.master(of: 42) == .tcp(host: "10.0.0.5", port: 7005))
        let partial = try SlotMap(clusterSlots: .array([.array([.integer(0), .integer(99), node("h", 1)])]), host: "h")
        #expect(partial.coveredSlots == 100 && partial.master(of: 100) == nil)
        #expect(throws: RedisError.self) { try SlotMap(clusterSlots: .array([.array([.integer(0)])]), host: "h") }
    }

    @Test("MOVED, ASK and retryable error replies are recognised")
    func redirections() {
        #expect(ClusterReply(error: "MOVED 3999 127.0.0.1:6381", host: "x") == .moved(slot: 3999, to: .tcp(host: "127.0.0.1", port: 6381)))
        #expect(ClusterReply(error: "ASK 3999 :6381", host: "10.1.1.1") == .ask(slot: 3999, to: .tcp(host: "10.1.1.1", port: 6381)))
        #expect(ClusterReply(error: "CLUSTERDOWN The cluster is down", host: "x") == .retryLater)
        #expect(ClusterReply(error: "TRYAGAIN Multiple keys request during rehashing of slot", host: "x") == .tryAgain)
        #expect(ClusterReply(error: "ERR wrong number of arguments", host: "x") == nil)
        #expect(ClusterReply(error: "MOVED nonsense", host: "x") == nil)
        #expect(RedisError.reply("MOVED 1 h:1", address: nil).code == .redirected)
    }

    /// A lease's command throws ``RedisError`` whose message adds a hint after the server's
    /// MOVED; parsed as a whole, it was no redirection at all, so the map was never updated.
    @Test("a MOVED or ASK with the hint RedisError adds is still recognised")
    func hintedRedirections() {
        let moved = RedisError.reply("MOVED 3999 127.0.0.1:6381", address: "redis://h:1")
        #expect(moved.message != "MOVED 3999 127.0.0.1:6381", "the message carries a hint")
        #expect(ClusterReply(error: moved.message, host: "x") == .moved(slot: 3999, to: .tcp(host: "127.0.0.1", port: 6381)))
        let ask = RedisError.reply("ASK 12 :6390", address: nil)
        #expect(ClusterReply(error: ask.message, host: "10.1.1.1") == .ask(slot: 12, to: .tcp(host: "10.1.1.1", port: 6390)))
        #expect(ClusterReply(error: "MOVED 3999 (hint)", host: "x") == nil)
    }

    @Test("redis-cluster:// URLs list seed nodes and keep credentials out of logs")
    func clusterURLs() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://app:hunter2@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(configuration.cluster?.seeds == [
            .tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 7001), .tcp(host: "::1", port: 7002),
        ])
        #expect(configuration.address == .tcp(host: "10.0.0.1", port: 7000))
        #expect(configuration.username == "app" && configuration.password == "hunter2")
        #expect(configuration.redactedURL == "redis-cluster://app:***@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        let secure = try RedisConfiguration(url: "rediss-cluster://h:7000?ca=/ca.pem")
        #expect(secure.tls?.caFile == "/ca.pem" && secure.cluster?.seeds.count == 1)
        #expect(try RedisConfiguration(url: "redis://h:1").cluster == nil)
        #expect {
            _ = try RedisConfiguration(url: "redis-cluster://u:hunter2@h:7000/2")
        } throws: { error in
            let error = error as! RedisError
            return error.code == .invalidURL && !"\(error)".contains("hunter2")
        }
    }

    @Test("an unreachable cluster fails with a clear error after the bounded attempts")
    func unreachable() async throws {
        var configuration = try RedisConfiguration(url: "redis-cluster://u:hunter2@127.0.0.1:1")
        configuration.cluster?.maxAttempts = 3
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        await #expect {
            _ = try await client.send("GET", "k")
        } throws: { error in
            let error = error as! RedisError
            return error.code == .connectionFailed && error.message.contains("gave up after 3 attempts")
                && !"\(error)".contains("hunter2")
        }
        #expect(client.clusterStatistics?.retried == 2)
        client.shutdown()
        await #expect {
            _ = try await client.send("GET", "k")
        } throws: { error in
            (error as? RedisError)?.code == .shutdown
        }
    }
}

/// Two forced slot-map reads under way at once: the one sent first could answer last and put
/// back the older map. `MapReads` decides which answer the router installs.
@Suite("Cluster: the order of slot-map reads")
struct MapReadsTests {
    @Test("a read sent before one already installed is not installed; reads answering in order are")
    func olderReadAnsweringLast() {
        var reads = MapReads()
        let first = reads.send()
        let second = reads.send()
        let installedsecond = reads.mayInstall(second)
        #expect(installedsecond)
        let installedfirst = reads.mayInstall(first)
        #expect(!installedfirst, "the older map replaced the newer")
        let third = reads.send()
        let installedthird = reads.mayInstall(third)
        #expect(installedthird)
        let fourth = reads.send()
        let installedfourth = reads.mayInstall(fourth)
        #expect(installedfourth)
    }

    @Test("a MOVED patch made while a read was under way: that read is not installed, one sent after it is")
    func patchWhileReading() {
        var reads = MapReads()
        let before = reads.send()
        reads.patched()
        let installedbefore = reads.mayInstall(before)
        #expect(!installedbefore)
        let after = reads.send()
        let installedafter = reads.mayInstall(after)
        #expect(installedafter)
    }
}

/// After a command timed out on a frozen master, the map was reread from the masters in their
/// order: the frozen one, when first, made the caller wait a second timeout.
@Suite("Cluster: the node a map read asks last")
struct MapReadCandidatesTests {
    @Test("the node that timed out goes last; the others keep their order; an unknown one changes nothing")
    func timedOutNodeLast() {
        let a = RedisAddress.tcp(host: "10.0.0.1", port: 7000)
        let b = RedisAddress.tcp(host: "10.0.0.2", port: 7000)
        let c = RedisAddress.tcp(host: "10.0.0.3", port: 7000)
        #expect(ClusterRouter.askingLast(a, in: [a, b, c]) == [b, c, a])
        #expect(ClusterRouter.askingLast(b, in: [a, b, c]) == [a, c, b])
        #expect(ClusterRouter.askingLast(nil, in: [a, b, c]) == [a, b, c])
        #expect(ClusterRouter.askingLast(RedisAddress.tcp(host: "10.0.0.9", port: 7000), in: [a, b, c]) == [a, b, c])
    }
}
