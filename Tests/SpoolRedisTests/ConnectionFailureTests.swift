#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("Connection failures and recovery")
struct ConnectionFailureTests {
    @Test("server stopped with requests in flight: they fail clearly, and the client recovers after a restart")
    func serverStopAndRestart() async throws {
        try await withRedisServer(.init(appendOnly: true)) { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .seconds(2)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            _ = try await client.send("SET", "kept", "yes")

            // Requests in flight: blocked reads the server is holding when it goes away.
            let inFlight = Task {
                try await client.withDedicatedConnection { connection in
                    try await connection.send(RedisCommand("BLPOP", "never", "30"), timeout: .seconds(40))
                }
            }
            // a bound, not a timing goal: the full parallel suite can stall a test for seconds
            let deadline = ContinuousClock.now + .seconds(30)
            while (try await client.send("INFO", "clients").string ?? "").contains("blocked_clients:0") {
                try #require(ContinuousClock.now < deadline, "the BLPOP never blocked")
                try await Task.sleep(for: .milliseconds(5))
            }
            try await server.stop()
            await #expect {
                _ = try await inFlight.value
            } throws: { error in
                let error = error as! RedisError
                return [.connectionClosed, .timeout].contains(error.code) && "\(error)".contains(server.url)
            }
            await #expect {
                try await client.send("PING")
            } throws: { error in
                // the first command may still find the old socket (closed) or already reconnect (refused)
                [.connectionClosed, .connectionFailed].contains((error as! RedisError).code)
            }

            try await server.restart()
            let reply = try await eventually(within: .seconds(60)) { try await client.send("GET", "kept") }
            #expect(reply.string == "yes")
        }
    }

    @Test("server paused past the command timeout: the call times out, and recovers after SIGCONT")
    func serverPaused() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .milliseconds(500)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            #expect(try await client.send("PING") == .simpleString("PONG"))
            server.pause()
            await #expect {
                try await client.send("PING")
            } throws: { error in
                let error = error as! RedisError
                return error.code == .timeout && "\(error)".contains("timed out")
            }
            server.resume()
            let reply = try await eventually(within: .seconds(60)) { try await client.send("PING") }
            #expect(reply == .simpleString("PONG"))
        }
    }

    @Test("a blocking read cancelled during the connection's handshake fails as cancelled, and the next command works")
    func cancelledDuringHandshake() async throws {
        try await withRedisServer { server in
            // each crossing of the proxy takes 300 ms: the TCP connect to the proxy is at once,
            // the handshake's replies (CLIENT SETNAME) take 600 ms or more
            let proxy = try DelayProxy(targetHost: server.host, targetPort: server.port, delay: .milliseconds(300) ... .milliseconds(300))
            defer { proxy.stop() }
            var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(proxy.port)")
            configuration.commandTimeout = .seconds(10)
            configuration.connectTimeout = .seconds(10)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            try await client.withDedicatedConnection { connection in
                let blocked = Task {
                    try await connection.sendInterruptible(RedisCommand("BLPOP", "nothing", "10"), timeout: .seconds(15))
                }
                try await Task.sleep(for: .milliseconds(150))   // inside the handshake
                blocked.cancel()
                let error = await #expect(throws: RedisError.self) { try await blocked.value }
                #expect(error?.code == .cancelled, "\(String(describing: error))")
                // the interrupt was used up by the handshake it broke, so it cancels nothing more,
                // and no reconnect backoff holds this command back
                #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    @Test("a long per-command timeout of a command that failed unsent does not stretch the next command's timeout",
          .timeLimit(.minutes(2)))
    func staleLongTimeout() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .seconds(2)
            // no handshake: a connect to the stopped server then succeeds (the kernel accepts)
            configuration.clientName = nil
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            defer { server.resume() }
            try await client.withDedicatedConnection { (connection) async throws in
                #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
                // The follow-up runs on the connection's thread once the PING's reply is read: it
                // tells the test to queue a command with a long timeout, waits until that command
                // is queued (so it is queued while the thread is busy, whatever the machine's
                // load: it failed once when the suite's start stalled the test past the 2 s), then
                // stops the server, so the follow-up's read times out after 2 s, and the queued
                // command fails unsent with it.
                let (reading, nowReading) = AsyncStream<Void>.makeStream()
                let first = Task {
                    try await connection.pipeline([RedisCommand("PING")]) { _ in
                        let before = connection.commandsQueued
                        nowReading.yield()
                        let clock = ContinuousClock()
                        let deadline = clock.now + .seconds(30)
                        while connection.commandsQueued == before && clock.now < deadline { usleep(1_000) }
                        server.pause()
                        return RedisCommand("PING")
                    }
                }
                for await _ in reading { break }
                let long = Task { try await connection.send(RedisCommand("PING"), timeout: .seconds(120)) }
                #expect(try await first.value == [.simpleString("PONG")], "the follow-up's reply is missing")
                guard case .failure = await result(of: long, within: .seconds(30), else: { server.resume() }) else {
                    Issue.record("the long command was not failed with the follow-up")
                    return
                }

                // the next command reconnects (to the stopped server) and waits 2 s, not 120
                let next = Task { try await connection.send(RedisCommand("PING")) }
                guard let outcome = await result(of: next, within: .seconds(30), else: { server.resume() }) else {
                    Issue.record("a PING did not time out within 30 s (command timeout: 2 s)")
                    return
                }
                switch outcome {
                case .success(let reply): Issue.record("a stopped server answered: \(reply)")
                case .failure(let error): #expect((error as? RedisError)?.code == .timeout, "\(error)")
                }
            }
        }
    }

    @Test("unix socket connections")
    func unixSocket() async throws {
        try await withRedisServer(.init(unixSocket: true)) { server in
            let url = try #require(server.unixURL)
            let client = RedisClient(configuration: try RedisConfiguration(url: url))
            defer { client.shutdown() }
            #expect(try await client.send("SET", "over", "unix") == .simpleString("OK"))
            #expect(try await client.send("GET", "over").string == "unix")
            let info = try await client.send("CLIENT", "INFO").string ?? ""
            #expect(info.contains("laddr=\(server.socketPath!)") || info.contains("addr=/") || info.contains("flags=U"))
        }
    }

    @Test("a connection the server closed while it sat idle is replaced before the next command, which succeeds")
    func closedWhileIdle() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let admin = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { admin.shutdown() }
            let first = try #require(try await client.send("CLIENT", "ID").int)
            // as a restart, the server's `timeout` setting or an operator would
            #expect(try await admin.send("CLIENT", "KILL", "ID", String(first)) == .integer(1))
            // idle long enough to be checked before the next command: counted from after the
            // kill, which came after the connection's last exchange
            try await Task.sleep(for: ConnectionThread.idleCheckAfter + .milliseconds(200))
            #expect(try await client.send("PING") == .simpleString("PONG"))
            #expect(try await client.send("CLIENT", "ID").int != first, "a new connection served it")
        }
    }

    @Test("connection refused is a clear connectionFailed error naming the address")
    func refused() async throws {
        let port = try await withRedisServer { server in server.port }
        let error = try #require(await Self.pingError(port: port))
        #expect(error.code == .connectionFailed && "\(error)".contains("127.0.0.1:\(port)") && "\(error)".contains("refused"), "\(error)")
    }

    /// What a `PING` to 127.0.0.1:`port` fails with (`nil` when it succeeds).
    static func pingError(port: Int) async -> RedisError? {
        let client = RedisClient(configuration: RedisConfiguration(address: .tcp(host: "127.0.0.1", port: port)))
        defer { client.shutdown() }
        do {
            _ = try await client.send("PING")
            return nil
        } catch {
            return error as? RedisError
        }
    }

    /// It said only `Protocol error, got "H" as reply type byte`.
    @Test("a server that is not Redis (HTTP here) is a protocolError that asks whether Redis listens there")
    func notRedis() async throws {
        // answers the first bytes as an HTTP server would
        let reply = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
        let port = try OneReplyServer.start(reply: reply, then: .waitForClientClose)
        let error = try #require(await Self.pingError(port: port))
        #expect(error.code == .protocolError && "\(error)".contains("got \"H\" as reply type byte (is a Redis server listening there?"), "\(error)")
    }

    @Test("calls after shutdown fail with a shutdown error")
    func afterShutdown() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            #expect(try await client.send("PING") == .simpleString("PONG"))
            client.shutdown()
            await #expect {
                try await client.send("PING")
            } throws: { error in
                (error as! RedisError).code == .shutdown
            }
        }
    }
}

/// Retries `body` until it succeeds or `within` passes, then rethrows the last error.
func eventually<T>(within limit: Duration, _ body: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now + limit
    while true {
        do {
            return try await body()
        } catch {
            if ContinuousClock.now >= deadline { throw error }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// `task`'s result, or `nil` if it did not finish within `limit`; `release` is then called,
/// and must end the task (the wait for it is not cancellable).
func result<T: Sendable>(
    of task: Task<T, any Error>, within limit: Duration, else release: @Sendable () async -> Void
) async -> Result<T, any Error>? {
    await withTaskGroup(of: Result<T, any Error>?.self) { group in
        group.addTask { await task.result }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        if first == nil { await release() }
        return first
    }
}
