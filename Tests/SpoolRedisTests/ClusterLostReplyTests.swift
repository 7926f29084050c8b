import SpoolTesting
import Testing
@testable import SpoolRedis

/// A command whose connection closes after the node ran it and before its reply came back.
///
/// The node closes the connection itself: with `client-output-buffer-limit normal 64kb 0 0`
/// Redis runs a command, finds its reply over the limit and drops the client without writing
/// any of it. The script here counts its runs and answers 128 KB, so each run is counted and
/// each reply lost.
@Suite("Cluster: a command whose reply was lost", .serialized)
struct ClusterLostReplyTests {
    private static let script = RedisScript("redis.call('INCR', KEYS[1]); return string.rep('x', tonumber(ARGV[1]))")

    @Test("a command that does not allow a resend runs once and its error is thrown, alone or in a pipeline; others are sent again")
    func markedCommandRunsOnce() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            var configuration = try RedisConfiguration(url: cluster.url)
            configuration.cluster?.maxAttempts = 4
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            let counter = "{lost}:runs"
            let master = try await cluster.master(ofSlot: RedisHashSlot.of(counter))
            // a key of another master, for a pipeline over two nodes
            var elsewhere = ""
            for index in 0..<1000 where elsewhere.isEmpty {
                if try await cluster.master(ofSlot: RedisHashSlot.of("other:\(index)")).port != master.port { elsewhere = "other:\(index)" }
            }
            try #require(!elsewhere.isEmpty)
            #expect(try await client.send("SET", counter, "0").string == "OK")   // reads the map, and the script loads below
            #expect(try await client.evaluate(Self.script, keys: [counter], arguments: ["1"]) == .bulkString(Array("x".utf8)))
            #expect(try await client.send("SET", counter, "0").string == "OK")
            func runs() async throws -> Int { Int(try await cluster.command(master, ["GET", counter]).string ?? "") ?? -1 }
            func limit(_ value: String) async throws {
                let reply = try await cluster.command(master, ["CONFIG", "SET", "client-output-buffer-limit", value])
                try #require(reply.string == "OK", "\(reply)")
            }
            try await limit("normal 64kb 0 0")

            var once = RedisCommand.evalSHA(Self.script, keys: [counter], arguments: ["131072"])
            once.allowsResendAfterLostReply = false
            let alone = await #expect(throws: RedisError.self) { try await client.send(once) }
            #expect(alone?.code == .connectionClosed, "\(String(describing: alone))")
            var count = try await runs()
            #expect(count == 1, "sent once")

            // in a pipeline, with a command of the same node and one of another
            let sameNode = await #expect(throws: RedisError.self) {
                try await client.pipeline([once, RedisCommand("INCR", "{lost}:other")])
            }
            #expect(sameNode?.code == .connectionClosed, "\(String(describing: sameNode))")
            count = try await runs()
            #expect(count == 2, "sent once more")
            let twoNodes = await #expect(throws: RedisError.self) {
                try await client.pipeline([RedisCommand("INCR", elsewhere), once])
            }
            #expect(twoNodes?.code == .connectionClosed, "\(String(describing: twoNodes))")
            count = try await runs()
            #expect(count == 3, "sent once more")

            // the same command allowing a resend (the default) is sent until the attempts run out
            let again = RedisCommand.evalSHA(Self.script, keys: [counter], arguments: ["131072"])
            await #expect(throws: RedisError.self) { try await client.send(again) }
            count = try await runs()
            #expect(count == 7, "sent 4 times")

            try await limit("normal 0 0 0")
            #expect(try await client.send(once) == .bulkString(Array(repeating: UInt8(ascii: "x"), count: 131_072)))
            count = try await runs()
            #expect(count == 8)
        }
    }
}
