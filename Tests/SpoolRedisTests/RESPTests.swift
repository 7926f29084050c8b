import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("RESP replies from a real server")
struct RESPTests {
    @Test("every RESP2 reply type converts")
    func replyTypes() async throws {
        try await withClient { client in
            #expect(try await client.send("SET", "k", "v") == .simpleString("OK"))
            #expect(try await client.send("INCRBY", "n", "-42") == .integer(-42))
            #expect(try await client.send("GET", "k") == .bulkString(Array("v".utf8)))
            #expect(try await client.send("GET", "missing") == .null)
            #expect(try await client.send("GET", "missing").isNull)
            #expect(try await client.send("SET", "empty", "") == .simpleString("OK"))
            #expect(try await client.send("GET", "empty") == .bulkString([]))
            #expect(try await client.send("LRANGE", "none", "0", "-1") == .array([]))
            let replies = try await client.pipeline([RedisCommand("INCR", "k"), RedisCommand("PING")])
            #expect(replies[0].errorMessage?.hasPrefix("ERR value is not an integer") == true)
            #expect(replies[1] == .simpleString("PONG"))
        }
    }

    @Test("an error reply throws a serverError with the server's text")
    func errorReplyThrows() async throws {
        try await withClient { client in
            await #expect {
                try await client.send("NOSUCHCOMMAND", "x")
            } throws: { error in
                let error = error as! RedisError
                return error.code == .serverError && error.message.contains("unknown command")
            }
        }
    }

    @Test("short strings repeated across replies (shared by the reply builder) read back exactly")
    func repeatedShortStrings() async throws {
        try await withClient { client in
            // 600 short values over 1-16 bytes, many the same length (so some share a slot of
            // the builder's table), with repeats; read three times, in one reply and singly
            let values: [[UInt8]] = (0..<600).map { index in
                Array(Array((String(repeating: "k", count: index % 16) + String(index % 250, radix: 36)).utf8).prefix(16))
            }
            for chunk in stride(from: 0, to: values.count, by: 100) {
                var push = RedisCommand("RPUSH", "list")
                for value in values[chunk..<(chunk + 100)] { push.append(value) }
                _ = try await client.send(push)
            }
            for _ in 0..<3 {
                let all = try await client.send("LRANGE", "list", "0", "-1")
                #expect(all == .array(values.map { .bulkString($0) }))
            }
            for index in stride(from: 0, to: values.count, by: 7) {
                #expect(try await client.send("LINDEX", "list", String(index)) == .bulkString(values[index]))
            }
        }
    }

    @Test("nested arrays and nil elements")
    func nestedArrays() async throws {
        try await withClient { client in
            let reply = try await client.send(RedisCommand("EVAL", "return {1, {'a', {2, false}}, 'b'}", "0"))
            #expect(reply == .array([
                .integer(1),
                .array([.bulkString(Array("a".utf8)), .array([.integer(2), .null])]),
                .bulkString(Array("b".utf8)),
            ]))
            _ = try await client.send("XADD", "s", "1-1", "f", "v")
            let entries = try await client.send("XRANGE", "s", "-", "+")
            #expect(entries == .array([.array([.bulkString(Array("1-1".utf8)), .array([.bulkString(Array("f".utf8)), .bulkString(Array("v".utf8))])])]))
        }
    }

    @Test("bulk strings are binary-safe: NUL bytes and more than 1 MiB")
    func binarySafety() async throws {
        try await withClient { client in
            var binary: [UInt8] = [0, 1, 0, 255, 13, 10, 0]
            var command = RedisCommand("SET", "bin")
            command.append(binary)
            _ = try await client.send(command)
            #expect(try await client.send("GET", "bin") == .bulkString(binary))
            #expect(try await client.send("STRLEN", "bin") == .integer(7))

            binary = (0..<(1_048_576 + 4099)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            var large = RedisCommand("SET", "big")
            large.append(binary)
            _ = try await client.send(large)
            #expect(try await client.send("GET", "big").bytes == binary)

            var key = RedisCommand("SET")
            key.append([0x6b, 0x00, 0x6b] as [UInt8])
            key.append("nul-key")
            _ = try await client.send(key)
            var exists = RedisCommand("EXISTS")
            exists.append([0x6b, 0x00, 0x6b] as [UInt8])
            #expect(try await client.send(exists) == .integer(1))
            #expect(try await client.send("EXISTS", "k") == .integer(0))
        }
    }
}

/// Starts a private server and a client for it, and tears both down.
func withClient(
    _ options: RedisServer.Options = .init(),
    configure: (inout RedisConfiguration) -> Void = { _ in },
    _ body: (RedisClient) async throws -> Void
) async throws {
    try await withRedisServer(options) { server in
        var configuration = try RedisConfiguration(url: server.url, password: options.password)
        configure(&configuration)
        let client = RedisClient(configuration: configuration)
        defer { client.shutdown() }
        try await body(client)
    }
}
