import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("Commands the client refuses")
struct UnsupportedCommandTests {
    /// Commands that break one reply per command (or undo the handshake), as callers may spell them.
    static let refused: [[String]] = [
        ["SUBSCRIBE", "news"], ["subscribe", "a", "b"], ["PSUBSCRIBE", "n*"], ["SSUBSCRIBE", "news"],
        ["UNSUBSCRIBE"], ["punsubscribe", "n*"], ["SUNSUBSCRIBE", "news"], ["MONITOR"],
        ["CLIENT", "REPLY", "OFF"], ["client", "reply", "skip"], ["RESET"],
    ]

    @Test("refused before sending, with one line saying what and why; the shared connection still answers in order")
    func refusedOnSharedConnection() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .seconds(2)
            for arguments in Self.refused {
                let client = RedisClient(configuration: configuration)
                defer { client.shutdown() }
                let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
                let error = await #expect(throws: RedisError.self, "\(arguments)") { try await client.send(command) }
                #expect(error?.code == .unsupportedCommand, "\(arguments)")
                let message = error?.message ?? ""
                #expect(message.hasPrefix(arguments.prefix(arguments[0].count == 6 ? 3 : 1).joined(separator: " ").uppercased()), "\(message)")
                #expect(message.contains(" is not supported: ") && !message.contains("\n"), "\(message)")
                // in a pipeline nothing is sent, not even the commands around it
                await #expect(throws: RedisError.self, "\(arguments)") {
                    try await client.pipeline([RedisCommand("SET", "before", "1"), command])
                }
                #expect(try await client.send("EXISTS", "before") == .integer(0), "\(arguments)")
                // replies still line up with their commands
                #expect(try await client.send("PING") == .simpleString("PONG"), "\(arguments)")
                #expect(try await client.send("ECHO", "after") == .bulkString(Array("after".utf8)), "\(arguments)")
            }
        }
    }

    @Test("refused on a dedicated connection too, and a follow-up that would be refused is not sent")
    func refusedOnDedicatedConnectionAndFollowUp() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            try await client.withDedicatedConnection { connection in
                await #expect {
                    try await connection.sendInterruptible(RedisCommand("SUBSCRIBE", "news"))
                } throws: { error in
                    (error as? RedisError)?.code == .unsupportedCommand
                }
                let replies = try await connection.pipeline([RedisCommand("PING")]) { _ in RedisCommand("MONITOR") }
                #expect(replies == [.simpleString("PONG")])
                #expect(try await connection.send(RedisCommand("ECHO", "after")) == .bulkString(Array("after".utf8)))
            }
        }
    }

    @Test("similar commands are sent: CLIENT REPLY ON, PUBLISH, CLIENT SETNAME, names of other lengths")
    func allowed() {
        for arguments in [["CLIENT", "REPLY", "ON"], ["PUBLISH", "news", "x"], ["CLIENT", "SETNAME", "x"], ["CLIENT"],
                          ["PUBSUB", "CHANNELS"], ["RESETSTAT"], ["SUBSCRIBEX"], ["MONITORS"], ["XREAD", "COUNT", "1"]] {
            let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
            #expect(command.unsupportedReason == nil, "\(arguments)")
        }
    }
}

/// A transaction on a cluster: the client routed a keyless `MULTI`, `EXEC` or `DISCARD` to any
/// master and the commands between them to their keys' masters, so they ran outside it.
@Suite("Transaction commands a cluster client refuses", .serialized)
struct ClusterTransactionRefusalTests {
    static let refused: [[String]] = [["MULTI"], ["exec"], ["DISCARD"], ["WATCH", "{t}:a"], ["unwatch"]]

    @Test("refused before sending, alone, in a pipeline and to each master, with one line saying what to do instead")
    func refused() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
            defer { client.shutdown() }
            for arguments in Self.refused {
                let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
                let error = await #expect(throws: RedisError.self, "\(arguments)") { try await client.send(command) }
                #expect(error?.code == .unsupportedCommand, "\(arguments)")
                let message = error?.message ?? ""
                #expect(message.hasPrefix(arguments[0].uppercased() + " is not supported on a Redis Cluster: "), "\(message)")
                #expect(message.contains("Lua script") && !message.contains("\n"), "\(message)")
                for each in [
                    { _ = try await client.sendToEachMaster(command) },
                    { _ = try await client.resultsFromEachMaster(command) },
                ] as [() async throws -> Void] {
                    await #expect { try await each() } throws: { ($0 as? RedisError)?.code == .unsupportedCommand }
                }
            }
            // a transaction in a pipeline: nothing is sent, not even the commands around it
            let transaction = [RedisCommand("MULTI"), RedisCommand("INCR", "{t}:a"), RedisCommand("INCR", "{t}:b"), RedisCommand("EXEC")]
            await #expect { try await client.pipeline(transaction) } throws: { ($0 as? RedisError)?.code == .unsupportedCommand }
            #expect(try await client.send("EXISTS", "{t}:a") == .integer(0))
            // a transaction on one node, on a dedicated connection, still runs
            let replies = try await client.withDedicatedConnection(forKey: "{t}:a") { connection in
                try await connection.pipeline(transaction)
            }
            #expect(replies.last == .array([.integer(1), .integer(1)]))
            #expect(try await client.send("GET", "{t}:b").string == "1")
        }
    }
}
