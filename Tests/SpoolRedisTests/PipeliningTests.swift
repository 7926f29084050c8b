import Synchronization
import Testing
@testable import SpoolRedis

@Suite("Auto-pipelining and batches")
struct PipeliningTests {
    @Test("50 concurrent tasks × 200 commands on one connection each get their own replies")
    func concurrentCallers() async throws {
        try await withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<50 {
                    group.addTask {
                        for index in 0..<200 {
                            let echo = try await client.send("ECHO", "task-\(task)-\(index)")
                            #expect(echo.string == "task-\(task)-\(index)")
                            let count = try await client.send("INCR", "counter:\(task)")
                            #expect(count == .integer(Int64(index + 1)))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let clients = try await client.send("CLIENT", "LIST").string ?? ""
            let ours = clients.split(separator: "\n").filter { $0.contains(" name=spool-") }
            #expect(ours.count == 1, "all callers shared one connection: \(ours)")
        }
    }

    @Test("a batch of 10,000 commands returns 10,000 replies in order")
    func largeBatch() async throws {
        try await withClient { client in
            let commands = (0..<10_000).map { RedisCommand("RPUSH", "list", "item-\($0)") }
            let replies = try await client.pipeline(commands)
            #expect(replies.count == 10_000)
            #expect(replies == (1...10_000).map { RESPValue.integer(Int64($0)) })
            let items = try await client.send("LRANGE", "list", "0", "-1").array?.compactMap(\.string)
            #expect(items == (0..<10_000).map { "item-\($0)" })
        }
    }

    @Test("a follow-up made from a batch's replies goes out on the connection's thread; its reply comes last")
    func followUp() async throws {
        try await withClient { client in
            _ = try await client.send("RPUSH", "names", "alpha", "beta")
            // the follow-up reads the batch's reply and asks for what it named
            let replies = try await client.pipeline([RedisCommand("SET", "alpha", "1"), RedisCommand("LINDEX", "names", "0")]) { replies in
                guard let name = replies[1].string else { return nil }
                return RedisCommand("GET", name)
            }
            #expect(replies == [.simpleString("OK"), .bulkString(Array("alpha".utf8)), .bulkString(Array("1".utf8))])
            // no follow-up: the batch's replies alone
            let alone = try await client.pipeline([RedisCommand("LLEN", "names")]) { _ in nil }
            #expect(alone == [.integer(2)])
            // callers sending meanwhile on the same connection get their own replies, and each
            // follow-up gets its batch's
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<20 {
                    group.addTask {
                        for index in 0..<50 {
                            let key = "key-\(task)-\(index)"
                            let replies = try await client.pipeline([RedisCommand("SET", key, "\(index)"), RedisCommand("ECHO", key)]) { replies in
                                replies[1].string.map { RedisCommand("GET", $0) }
                            }
                            #expect(replies.count == 3)
                            #expect(replies[2].string == "\(index)")
                            #expect(try await client.send("ECHO", key).string == key)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("a connection failing while the follow-up is out still returns the batch's replies")
    func followUpFails() async throws {
        try await withClient(configure: { $0.commandTimeout = .milliseconds(300) }) { client in
            // the follow-up blocks longer than the command timeout: the read times out, the
            // connection drops, and the batch (which ran) still gets its replies
            let replies = try await client.pipeline([RedisCommand("SET", "ran", "1")]) { _ in
                RedisCommand("BLPOP", "never", "5")
            }
            #expect(replies == [.simpleString("OK")])
            // the next command reconnects
            #expect(try await client.send("GET", "ran").string == "1")
        }
    }

    @Test("a follow-up that cannot be written (the server closed the connection) still returns the batch's replies")
    func followUpUnwritable() async throws {
        try await withClient { client in
            // QUIT: the server answers, then closes; 16 MB cannot all go out to a closed socket
            let big = RedisCommand("ECHO", String(repeating: "x", count: 16 << 20))
            let outcome = Mutex<Result<[RESPValue], any Error>?>(nil)
            // in a task of its own, so that a lost reply fails this test instead of hanging it
            Task {
                let result: Result<[RESPValue], any Error>
                do {
                    result = .success(try await client.pipeline([RedisCommand("SET", "ran", "1"), RedisCommand("QUIT")]) { _ in big })
                } catch {
                    result = .failure(error)
                }
                outcome.withLock { $0 = result }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while outcome.withLock({ $0 == nil }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let replies = try #require(outcome.withLock { $0 }, "the call did not return within 20 s").get()
            #expect(replies == [.simpleString("OK"), .simpleString("OK")])
            let after = try await client.send("GET", "ran")
            #expect(after.string == "1")
        }
    }

    @Test("EVALSHA works after SCRIPT FLUSH (NOSCRIPT reloads), alone and in a batch")
    func scriptReload() async throws {
        try await withClient { client in
            let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            #expect(try await client.evaluate(script, keys: ["n"], arguments: ["2"]) == .integer(2))
            _ = try await client.send("SCRIPT", "FLUSH")
            #expect(try await client.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(0)]))
            #expect(try await client.evaluate(script, keys: ["n"], arguments: ["3"]) == .integer(5))
            _ = try await client.send("SCRIPT", "FLUSH")
            let replies = try await client.pipeline([
                .evalSHA(script, keys: ["n"], arguments: ["1"]),
                RedisCommand("GET", "n"),
                .evalSHA(script, keys: ["n"], arguments: ["10"]),
            ])
            #expect(replies[0] == .integer(6))
            #expect(replies[2] == .integer(16))
            #expect(try await client.send("GET", "n").string == "16")
        }
    }

    /// An EVALSHA that met NOSCRIPT ran again after the batch's other commands: a batch push
    /// stored its jobs with a dedup key or a delay after the rest.
    @Test("a batch whose script the server has not loaded yet runs in its order; the script is loaded once per connection")
    func scriptLoadedAheadKeepsOrder() async throws {
        try await withClient { client in
            let script = RedisScript("return redis.call('RPUSH', KEYS[1], ARGV[1])")
            #expect(try await client.send("SCRIPT", "EXISTS", script.sha1) == .array([.integer(0)]))
            let replies = try await client.pipeline([
                .evalSHA(script, keys: ["order"], arguments: ["a"]),
                RedisCommand("RPUSH", "order", "b"),
                .evalSHA(script, keys: ["order"], arguments: ["c"]),
            ])
            #expect(replies == [.integer(1), .integer(2), .integer(3)])
            #expect(try await client.send("LRANGE", "order", "0", "-1") == .array(["a", "b", "c"].map { .bulkString(Array($0.utf8)) }))
            _ = try await client.pipeline([.evalSHA(script, keys: ["order"], arguments: ["d"])])
            let stats = try await client.send("INFO", "commandstats").string ?? ""
            let loads = stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_script|load:") }
            #expect(loads?.contains("calls=1,") == true, "\(String(describing: loads))")
        }
    }

    @Test("a blocking XREADGROUP on a dedicated connection does not delay the shared one")
    func blockingReadDoesNotStall() async throws {
        try await withClient { client in
            _ = try await client.send("XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM")
            async let blocked: RESPValue = client.withDedicatedConnection { connection in
                try await connection.send(
                    RedisCommand("XREADGROUP", "GROUP", "g", "c", "BLOCK", "30000", "STREAMS", "jobs", ">"),
                    timeout: .seconds(40)
                )
            }
            // Wait until the server reports the blocked client, then ping on the shared connection.
            // a bound, not a timing goal: the full parallel suite can stall a test for seconds
            let deadline = ContinuousClock.now + .seconds(30)
            while (try await client.send("INFO", "clients").string ?? "").contains("blocked_clients:0") {
                try #require(ContinuousClock.now < deadline, "the XREADGROUP never blocked")
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(try await client.send("PING") == .simpleString("PONG"))
            let stillBlocked = try await client.send("INFO", "clients").string ?? ""
            #expect(stillBlocked.contains("blocked_clients:1"), "PING was answered while the read was still blocked")
            _ = try await client.send("XADD", "jobs", "*", "f", "v")
            let reply = try await blocked
            #expect(reply.array?.count == 1, "the blocked read received the entry")
        }
    }
}
