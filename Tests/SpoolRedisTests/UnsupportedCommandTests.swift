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
