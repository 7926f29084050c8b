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

/// A transaction over calls on a shared connection: other callers' commands, sent between
/// them on the same connection, were queued into it (answered `QUEUED`, run at the `EXEC`).
@Suite("Transactions on a single server's shared connections")
struct SharedTransactionTests {
    /// Every call that sends `command` on a shared connection (after a `SET before 1` where it
    /// can take more than one); each throws what the client throws, or the master's failure.
    static func sharedConnectionCalls(_ client: RedisClient, _ command: RedisCommand) -> [() async throws -> Void] {
        [
            { _ = try await client.send(command) },
            { _ = try await client.pipeline([RedisCommand("SET", "before", "1"), command]) },
            { _ = try await client.pipeline([RedisCommand("SET", "before", "1"), command]) { _ in nil } },
            { _ = try await client.sendToEachMaster(command) },
            {
                // (a command refused on every connection is that master's failure here, as any error)
                let results = try await client.resultsFromEachMaster(command)
                if case .failure(let error) = results.first?.result { throw error }
            },
        ]
    }

    @Test("a MULTI or WATCH left open, or an EXEC or DISCARD without its MULTI, is refused before sending by every shared-connection call", arguments: [
        (["MULTI"], "MULTI without its EXEC after it"),
        (["WATCH", "k"], "WATCH without its EXEC after it"),
        (["EXEC"], "EXEC without its MULTI before it"),
        (["discard"], "DISCARD without its MULTI before it"),
    ])
    func refusedAlone(arguments: [String], expected: String) async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
            for call in Self.sharedConnectionCalls(client, command) {
                let error = await #expect(throws: RedisError.self, "\(arguments)") { try await call() }
                #expect(error?.code == .unsupportedCommand, "\(arguments)")
                let message = error?.message ?? ""
                #expect(message.hasPrefix(expected) && message.contains("withDedicatedConnection") && !message.contains("\n"), "\(message)")
            }
            // a WATCH is not a MULTI: its EXEC would be refused by Redis and leave the WATCH standing
            for pair in [["EXEC"], ["DISCARD"]] {
                let error = await #expect(throws: RedisError.self) {
                    try await client.pipeline([RedisCommand("WATCH", "k"), RedisCommand(pair[0])])
                }
                #expect(error?.message.hasPrefix("\(pair[0]) without its MULTI before it") == true, "\(String(describing: error))")
            }
            // nothing was sent: the connection is in no transaction, and answers in order
            #expect(try await client.send("EXISTS", "before") == .integer(0))
            #expect(try await client.send("PING") == .simpleString("PONG"))
        }
    }

    @Test("a whole transaction in one pipeline runs, with WATCH and UNWATCH; on a dedicated connection it may span calls")
    func wholeTransactionsRun() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let replies = try await client.pipeline([
                RedisCommand("WATCH", "a"), RedisCommand("MULTI"), RedisCommand("INCR", "a"), RedisCommand("INCR", "b"),
                RedisCommand("EXEC"),
            ])
            #expect(replies.last == .array([.integer(1), .integer(1)]))
            _ = try await client.pipeline([RedisCommand("WATCH", "a"), RedisCommand("UNWATCH")])
            _ = try await client.pipeline([RedisCommand("MULTI"), RedisCommand("INCR", "a"), RedisCommand("DISCARD")])
            #expect(try await client.send("GET", "a").string == "1")
            let executed = try await client.withDedicatedConnection { connection in
                _ = try await connection.send(RedisCommand("MULTI"))
                #expect(try await connection.send(RedisCommand("INCR", "a")) == .simpleString("QUEUED"))
                return try await connection.send(RedisCommand("EXEC"))
            }
            #expect(executed == .array([.integer(2)]))
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

/// Commands that change what a connection is for every caller of it: `SELECT` moved their
/// commands to another database, `AUTH` ran them as another user (on a dedicated connection
/// too, once it went back to the client's pool), `HELLO 3` switched the connection to RESP3,
/// which the client cannot read.
@Suite("Commands that change a connection's database, user or protocol")
struct ConnectionStateCommandTests {
    @Test("SELECT, AUTH, HELLO with AUTH and HELLO 3 are refused before sending, on shared and dedicated connections", arguments: [
        (["SELECT", "1"], "SELECT is not supported"),
        (["auth", "secret"], "AUTH is not supported"),
        (["AUTH", "app", "secret"], "AUTH is not supported"),
        (["HELLO", "2", "AUTH", "app", "secret"], "HELLO with AUTH is not supported"),
        (["HELLO", "3"], "HELLO 3 is not supported"),
    ])
    func refused(arguments: [String], expected: String) async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
            let dedicated: [() async throws -> Void] = [
                { _ = try await client.withDedicatedConnection { try await $0.send(command) } },
                { _ = try await client.withDedicatedConnection { try await $0.pipeline([RedisCommand("SET", "before", "1"), command]) } },
            ]
            for call in SharedTransactionTests.sharedConnectionCalls(client, command) + dedicated {
                let error = await #expect(throws: RedisError.self, "\(arguments)") { try await call() }
                #expect(error?.code == .unsupportedCommand, "\(arguments)")
                let message = error?.message ?? ""
                #expect(message.hasPrefix(expected) && !message.contains("\n") && !message.contains("secret"), "\(message)")
            }
            // as a follow-up it is not sent either
            let replies = try await client.withDedicatedConnection { connection in
                try await connection.pipeline([RedisCommand("PING")]) { _ in command }
            }
            #expect(replies == [.simpleString("PONG")])
            // nothing was sent: still database 0 on every connection, and the replies line up
            #expect(try await client.send("EXISTS", "before") == .integer(0))
            _ = try await client.send("SET", "here", "0")
            #expect(try await client.withDedicatedConnection { try await $0.send(RedisCommand("GET", "here")) } == .bulkString(Array("0".utf8)))
        }
    }

    @Test("HELLO without a version, or with 2, is sent; names that only start like the refused ones are not refused")
    func allowed() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let replies = try await client.pipeline([RedisCommand("HELLO"), RedisCommand("HELLO", "2"), RedisCommand("PING")])
            #expect(replies[0].array != nil && replies[1].array != nil && replies[2] == .simpleString("PONG"), "\(replies)")
            for arguments in [["HELLO"], ["HELLO", "2"], ["HELLO", "2", "SETNAME", "x"], ["SELECTX"], ["AUTHX"], ["XADD", "k", "*", "a", "b"]] {
                let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
                #expect(command.unsupportedReason == nil, "\(arguments)")
            }
        }
    }

    @Test("on a cluster they are refused before anything is sent, alone and in a pipeline over several masters")
    func refusedOnACluster() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
            defer { client.shutdown() }
            let before = (0..<12).map { RedisCommand("SET", "before\($0)", "1") }   // keys on several masters
            for arguments in [["SELECT", "0"], ["AUTH", "secret"], ["HELLO", "2", "AUTH", "default", "secret"], ["HELLO", "3"]] {
                let command = RedisCommand(arguments[0], Array(arguments.dropFirst()))
                for call in [
                    { _ = try await client.send(command) },
                    { _ = try await client.pipeline(before + [command]) },
                    { _ = try await client.sendToEachMaster(command) },
                    { _ = try await client.withDedicatedConnection(forKey: "k") { try await $0.send(command) } },
                ] as [() async throws -> Void] {
                    await #expect { try await call() } throws: { ($0 as? RedisError)?.code == .unsupportedCommand }
                }
            }
            for index in 0..<12 {
                #expect(try await client.send("EXISTS", "before\(index)") == .integer(0), "before\(index)")
            }
        }
    }
}
