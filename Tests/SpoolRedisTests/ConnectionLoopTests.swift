#if canImport(Glibc)
import Glibc
#endif
import SpoolTesting
import Synchronization
import Testing
@testable import SpoolRedis

/// A client whose shared connection a ``ConnectionLoop`` drives (a worker on its own thread
/// sends through one): the same replies, failures and recovery as a connection with a thread.
@Suite("Connections driven by a loop's thread")
struct ConnectionLoopTests {
    /// Runs `body` with a client following one for `server` (``RedisClient/init(following:loop:)``)
    /// and the loop driving it; shuts both down after.
    private func withLoopClient<T>(
        _ server: RedisServer, commandTimeout: Duration = .seconds(10), busyPoll: Duration = .zero,
        _ body: (RedisClient, RedisClient, ConnectionLoop) async throws -> T
    ) async throws -> T {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = commandTimeout
        return try await withLoopClient(configuration, busyPoll: busyPoll, body)
    }

    private func withLoopClient<T>(
        _ configuration: RedisConfiguration, busyPoll: Duration = .zero,
        _ body: (RedisClient, RedisClient, ConnectionLoop) async throws -> T
    ) async throws -> T {
        let parent = RedisClient(configuration: configuration)
        defer { parent.shutdown() }
        let loop = try ConnectionLoop(busyPoll: busyPoll)
        defer { loop.shutdown() }
        let client = try #require(RedisClient(following: parent, loop: loop))
        defer { client.shutdown() }
        return try await body(client, parent, loop)
    }

    /// The loop's busy polls (``ConnectionLoop/BusyPoll``): off, and on.
    static let busyPolls: [Duration] = [.zero, .microseconds(100)]

    @Test("commands from the loop's tasks and from other threads, single, batched and chained, each get their own replies",
          arguments: busyPolls)
    func repliesReachTheirCallers(busyPoll: Duration) async throws {
        try await withRedisServer { server in
            try await withLoopClient(server, busyPoll: busyPoll) { client, _, loop in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        // half the callers on the loop's thread, half on the shared pool
                        let preference: (any TaskExecutor)? = worker % 2 == 0 ? loop : nil
                        group.addTask(executorPreference: preference) {
                            for round in 0..<100 {
                                let key = "k\(worker)-\(round)"
                                #expect(try await client.send("SET", key, "v\(round)") == .simpleString("OK"))
                                #expect(try await client.send("GET", key).string == "v\(round)")
                                let echoes = try await client.pipeline([RedisCommand("ECHO", "a\(round)"), RedisCommand("ECHO", "b\(round)")])
                                #expect(echoes.map(\.string) == ["a\(round)", "b\(round)"])
                                // the follow-up is made from the batch's replies, and its reply comes last
                                let chained = try await client.pipeline([RedisCommand("RPUSH", "l\(worker)", "x"), RedisCommand("ECHO", key)]) { replies in
                                    replies[1].string.map { RedisCommand("GET", $0) }
                                }
                                #expect(chained.count == 3 && chained[0].int == round + 1 && chained[1].string == key && chained[2].string == "v\(round)")
                                _ = try await client.send("INCR", "total")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(try await client.send("GET", "total").string == "800")
            }
        }
    }

    @Test("8,000 commands from 16 tasks on the shared pool, each waking the loop from another thread, are all answered",
          arguments: busyPolls)
    func sendersOnOtherThreads(busyPoll: Duration) async throws {
        try await withRedisServer { server in
            try await withLoopClient(server, busyPoll: busyPoll) { client, _, _ in
                // every caller on the shared pool: each command wakes the loop from another thread
                let all = Task {
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        for _ in 0..<16 {
                            group.addTask {
                                var answered = 0
                                for _ in 0..<500 where try await client.send("PING") == .simpleString("PONG") { answered += 1 }
                                return answered
                            }
                        }
                        return try await group.reduce(0, +)
                    }
                }
                // bounded: a command left queued while the loop sleeps is never answered
                let answered = try #require(await outcome(of: all, within: .seconds(60)), "a command was never answered").get()
                #expect(answered == 16 * 500)
            }
        }
    }

    @Test("a reply many times the loop's 16 KiB read comes whole, and the next reply after it")
    func largeReply() async throws {
        try await withRedisServer { server in
            try await withLoopClient(server) { client, _, loop in
                let value = String((0..<(1 << 20)).map { _ in Character(UnicodeScalar(UInt8.random(in: 97...122))) })
                let replies = try await Task(executorPreference: loop) {
                    _ = try await client.send("SET", "big", value)
                    return try await client.pipeline([RedisCommand("GET", "big"), RedisCommand("PING")])
                }.value
                #expect(replies[0].string == value)
                #expect(replies[1] == .simpleString("PONG"))
            }
        }
    }

    @Test("reading what a socket holds: a reply that fills the whole 16 KiB read, then the peer's close, gives the reply, then the close")
    func receiveThenEndOfStream() throws {
        var sockets: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sockets) == 0)
        // the context owns and closes its end
        let context = try HiredisContext(connectedSocket: sockets[0], redacted: "socketpair", timeout: .seconds(5))
        let value = String(repeating: "v", count: 16_374)
        let bytes = Array("$16374\r\n\(value)\r\n".utf8)
        #expect(bytes.withUnsafeBytes { write(sockets[1], $0.baseAddress, $0.count) } == bytes.count)
        // shut down, not only closed: a process another test spawns at this moment holds a copy
        // of the descriptor until its exec, and the close alone would end nothing meanwhile
        shutdown(sockets[1], Int32(SHUT_WR))
        close(sockets[1])
        #expect(try context.receiveAvailable())
        #expect(try context.nextParsedReply()?.string == value)
        #expect(try context.nextParsedReply() == nil)
        #expect {
            _ = try context.receiveAvailable()
        } throws: { error in
            (error as? RedisError)?.code == .connectionClosed
        }
    }

    @Test("a reply that fills the loop's whole 16 KiB read and is followed by the server's close reaches its caller")
    func replyThenClose() async throws {
        // 8 bytes of header, 16,374 of value, 2 of CRLF: one full read, then the end of stream
        let value = String(repeating: "v", count: 16_374)
        let port = try OneReplyServer.start(reply: Array("$16374\r\n\(value)\r\n".utf8), then: .close)
        var configuration = RedisConfiguration(address: .tcp(host: "127.0.0.1", port: port))
        configuration.clientName = nil   // no handshake: the first bytes sent are the GET
        try await withLoopClient(configuration) { client, _, loop in
            let reply = try await Task(executorPreference: loop) { try await client.send("GET", "k") }.value
            #expect(reply.string == value)
        }
    }

    @Test("server paused past the command timeout: the call times out, and the next ones work after SIGCONT",
          arguments: busyPolls)
    func timesOut(busyPoll: Duration) async throws {
        try await withRedisServer { server in
            try await withLoopClient(server, commandTimeout: .milliseconds(500), busyPoll: busyPoll) { client, _, loop in
                // connected first (a connect on a loaded machine may take longer than the timeout)
                let pong = try await eventually(within: .seconds(60)) { try await client.send("PING") }
                #expect(pong == .simpleString("PONG"))
                server.pause()
                let sent = ContinuousClock.now
                let ping = Task(executorPreference: loop) { try await client.send("PING") }
                // a bound against a hang (no timeout at all): the server is let go, and the PING
                // that then succeeds fails the test
                let paused = await result(of: ping, within: .seconds(30)) { server.resume() }
                // not at once: once the command timeout had passed with no reply
                #expect(ContinuousClock.now - sent >= .milliseconds(500))
                server.resume()
                #expect {
                    _ = try #require(paused).get()
                } throws: { error in
                    let error = error as! RedisError
                    return error.code == .timeout && "\(error)".contains(server.url)
                }
                let reply = try await eventually(within: .seconds(60)) { try await client.send("PING") }
                #expect(reply == .simpleString("PONG"))
            }
        }
    }

    /// (Not run with busy polling: a loop that never waits never polls, and two of these, each
    /// keeping a thread busy, in parallel with the whole suite stalled it for about 10 s in half
    /// the runs here.)
    @Test("a command in flight times out while the loop's thread is never idle (a task that keeps yielding)")
    func timesOutWhileBusy() async throws {
        try await withRedisServer { server in
            try await withLoopClient(server, commandTimeout: .milliseconds(500)) { client, _, loop in
                let pong = try await eventually(within: .seconds(60)) { try await client.send("PING") }
                #expect(pong == .simpleString("PONG"))
                let stop = Atomic<Bool>(false)
                // keeps a task ready on the loop at every turn, so it never waits in `poll`
                let spinner = Task(executorPreference: loop) {
                    while !stop.load(ordering: .relaxed) { await Task.yield() }
                }
                server.pause()
                let ping = Task(executorPreference: loop) { try await client.send("PING") }
                let paused = await result(of: ping, within: .seconds(30)) { server.resume() }
                stop.store(true, ordering: .relaxed)
                await spinner.value
                server.resume()
                #expect {
                    _ = try #require(paused).get()
                } throws: { error in
                    (error as? RedisError)?.code == .timeout
                }
            }
        }
    }

    @Test("a server that is not Redis is a protocolError on the loop too, asking whether Redis listens there")
    func notRedis() async throws {
        let reply = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
        let port = try OneReplyServer.start(reply: reply, then: .waitForClientClose)
        var configuration = RedisConfiguration(address: .tcp(host: "127.0.0.1", port: port))
        configuration.clientName = nil   // no handshake: the reply is read by the loop
        try await withLoopClient(configuration) { client, _, loop in
            let outcome = await Task(executorPreference: loop) { try await client.send("PING") }.result
            #expect {
                _ = try outcome.get()
            } throws: { error in
                let error = error as! RedisError
                return error.code == .protocolError && "\(error)".contains("(is a Redis server listening there?")
            }
        }
    }

    @Test("server stopped with a command in flight: it fails as a lost connection, and the client reconnects after a restart")
    func serverStopAndRestart() async throws {
        try await withRedisServer(.init(appendOnly: true)) { server in
            try await withLoopClient(server, commandTimeout: .seconds(60)) { client, parent, loop in
                _ = try await client.send("SET", "kept", "yes")
                // in flight on the loop's connection while the server goes away
                let inFlight = Task(executorPreference: loop) { try await client.send("BLPOP", "never", "50") }
                try await waitForBlockedClient(parent)
                try await server.stop()
                await #expect {
                    _ = try await inFlight.value
                } throws: { error in
                    (error as? RedisError)?.code == .connectionClosed
                }
                try await server.restart()
                let reply = try await eventually(within: .seconds(60)) { try await client.send("GET", "kept") }
                #expect(reply.string == "yes")
            }
        }
    }

    @Test("a connection the server closed while idle is replaced before the next command")
    func closedWhileIdle() async throws {
        try await withRedisServer { server in
            try await withLoopClient(server) { client, parent, _ in
                let first = try #require(try await client.send("CLIENT", "ID").int)
                #expect(try await parent.send("CLIENT", "KILL", "ID", String(first)) == .integer(1))
                // idle long enough to be checked before the next command: counted from after the
                // kill, which came after the connection's last exchange
                try await Task.sleep(for: ConnectionThread.idleCheckAfter + .milliseconds(200))
                #expect(try await client.send("PING") == .simpleString("PONG"))
                #expect(try await client.send("CLIENT", "ID").int != first, "a new connection served it")
            }
        }
    }

    @Test("shutting the followed client down fails a command in flight on the loop's connection as shut down, and later ones")
    func shutDownWithParent() async throws {
        try await withRedisServer { server in
            try await withLoopClient(server, commandTimeout: .seconds(60)) { client, parent, loop in
                let inFlight = Task(executorPreference: loop) { try await client.send("BLPOP", "never", "50") }
                try await waitForBlockedClient(parent)
                parent.shutdown()
                await #expect {
                    _ = try await inFlight.value
                } throws: { error in
                    (error as? RedisError)?.code == .shutdown
                }
                await #expect {
                    try await client.send("PING")
                } throws: { error in
                    (error as? RedisError)?.code == .shutdown
                }
            }
        }
    }

    @Test("a client made to follow one already shut down is shut down; one let go of is not shut down with it")
    func followingRules() async throws {
        try await withRedisServer { server in
            let loop = try ConnectionLoop()
            defer { loop.shutdown() }
            let configuration = try RedisConfiguration(url: server.url)
            let gone = RedisClient(configuration: configuration)
            gone.shutdown()
            let late = try #require(RedisClient(following: gone, loop: loop))
            await #expect {
                try await late.send("PING")
            } throws: { error in
                (error as? RedisError)?.code == .shutdown
            }
            let parent = RedisClient(configuration: configuration)
            let kept = try #require(RedisClient(following: parent, loop: loop))
            defer { kept.shutdown() }
            parent.stopFollowing(kept)
            parent.shutdown()
            #expect(try await kept.send("PING") == .simpleString("PONG"))
        }
    }

    @Test("a client made on a loop that has ended fails its commands as shut down, rather than never")
    func endedLoop() async throws {
        try await withRedisServer { server in
            let parent = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { parent.shutdown() }
            let loop = try ConnectionLoop()
            loop.shutdown()
            let client = try #require(RedisClient(following: parent, loop: loop))
            defer { client.shutdown() }
            let ping = Task { try await client.send("PING") }
            await #expect {
                _ = try #require(await outcome(of: ping, within: .seconds(30))).get()
            } throws: { error in
                (error as? RedisError)?.code == .shutdown
            }
        }
    }

    @Test("shutting the loop down fails what its connections still hold as shut down")
    func loopShutdown() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .seconds(60)
            let parent = RedisClient(configuration: configuration)
            defer { parent.shutdown() }
            let loop = try ConnectionLoop()
            let client = try #require(RedisClient(following: parent, loop: loop))
            defer { client.shutdown() }
            // sent from the shared pool: the loop's thread only drives the connection
            let inFlight = Task { try await client.send("BLPOP", "never", "50") }
            try await waitForBlockedClient(parent)
            loop.shutdown()
            // bounded: had the loop left its connection open, nothing would ever read the reply
            await #expect {
                _ = try #require(await outcome(of: inFlight, within: .seconds(30))).get()
            } throws: { error in
                (error as? RedisError)?.code == .shutdown
            }
            // nothing drives the connection any more: a command fails at once, not never
            let later = Task { try await client.send("PING") }
            await #expect {
                _ = try #require(await outcome(of: later, within: .seconds(30))).get()
            } throws: { error in
                (error as? RedisError)?.code == .shutdown
            }
        }
    }

    /// `task`'s result if it finishes within `limit`, else `nil`, leaving it running (nothing
    /// may be able to end it: the test fails rather than hangs).
    private func outcome<T: Sendable>(of task: Task<T, any Error>, within limit: Duration) async -> Result<T, any Error>? {
        let finished = Mutex<Result<T, any Error>?>(nil)
        Task { let result = await task.result; finished.withLock { $0 = result } }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let result = finished.withLock({ $0 }) { return result }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return finished.withLock { $0 }
    }

    /// Waits until the server holds a client blocked (a `BLPOP` sent); a bound against a hang.
    private func waitForBlockedClient(_ admin: RedisClient) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while (try await admin.send("INFO", "clients").string ?? "").contains("blocked_clients:0") {
            try #require(ContinuousClock.now < deadline, "the BLPOP never blocked")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("busy polling: on while polls catch replies; after 4 polls in a row that run out, off for 16 waits, then 32, up to 1,024; a catch starts the count and the back-off over")
    func busyPollBacksOff() {
        var poll = ConnectionLoop.BusyPoll(limit: .microseconds(100))
        func polls() -> Bool { poll.next() }
        // polls that each run out
        func miss(_ times: Int) {
            for _ in 0..<times {
                #expect(polls())
                poll.record(caught: false)
            }
        }
        // waits until the next poll
        func sleepsBeforeNextPoll() -> Int {
            var sleeps = 0
            while !poll.next() { sleeps += 1 }
            return sleeps
        }
        #expect(polls())
        poll.record(caught: true)
        miss(3)
        // three misses: still polling; the fourth backs off
        #expect(polls())
        poll.record(caught: false)
        #expect(sleepsBeforeNextPoll() == 16)
        var expected = 32
        for _ in 0..<8 {
            // that wait polled (counted by sleepsBeforeNextPoll's last next()); three more misses
            poll.record(caught: false)
            miss(3)
            #expect(sleepsBeforeNextPoll() == expected)
            expected = min(expected * 2, 1024)
        }
        // a catch between misses starts the count over: three, a catch, three more still poll
        poll.record(caught: true)
        miss(3)
        #expect(polls())
        poll.record(caught: true)
        miss(3)
        #expect(polls())
        poll.record(caught: true)
        // and the back-off starts from 16 again: four misses back off for 16
        miss(4)
        #expect(sleepsBeforeNextPoll() == 16)
        // zero never polls
        var off = ConnectionLoop.BusyPoll(limit: .zero)
        let offPolls = off.next()
        #expect(!offPolls)
    }
}
