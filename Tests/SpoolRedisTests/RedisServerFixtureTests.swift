import Foundation
import SpoolTesting
import Testing

@Suite("RedisServer fixture")
struct RedisServerFixtureTests {
    @Test func startAnswersPingAsTheSpawnedProcess() async throws {
        try await withRedisServer { server in
            let probe = RedisProbe(endpoint: .tcp(host: server.host, port: server.port))
            #expect(try await probe.command("PING") == .simple("PONG"))
            #expect(try server.cli("PING") == "PONG")
            let info = try server.cli("INFO", "server")
            #expect(info.contains("process_id:\(server.pid)"))
            #expect(server.url == "redis://127.0.0.1:\(server.port)")
            #expect(server.unixURL == nil)
            #expect(FileManager.default.fileExists(atPath: server.dataDirectory))
        }
    }

    @Test func stopReapsAndThePortRefusesConnections() async throws {
        try await withRedisServer { server in
            let pid = server.pid
            let probe = RedisProbe(endpoint: .tcp(host: server.host, port: server.port), timeout: .seconds(10))
            let ours = try await probe.command("INFO", "server").runID
            try #require(ours != nil)
            try await server.stop()
            #expect(kill(pid, 0) == -1, "the process is gone and reaped, not a zombie")
            // The port is free once the server is gone: a connection is refused. Another test may
            // have started its own server on that port meanwhile (it was free): then whoever
            // answers must not be this one.
            do {
                let answer = try await probe.command("INFO", "server")
                #expect(answer.runID != ours, "the stopped server still answers")
            } catch let error as RedisServerError {
                #expect(error.code == .connectionFailed, "\(error)")
            }
            try await server.stop()  // stopping a stopped server does nothing
        }
    }

    @Test func restartKeepsDataWithAppendOnly() async throws {
        try await withRedisServer(.init(appendOnly: true)) { server in
            let port = server.port
            let firstPID = server.pid
            #expect(try server.cli("SET", "k", "v") == "OK")
            try await server.restart()
            #expect(server.port == port)
            #expect(server.pid != firstPID)
            #expect(try server.cli("GET", "k") == "v")
        }
    }

    @Test func restartAfterKillKeepsFsyncedData() async throws {
        try await withRedisServer(.init(appendOnly: true)) { server in
            #expect(try server.cli("RPUSH", "list", "a", "b") == "2")
            await server.kill()
            try await server.restart()
            #expect(try server.cli("LRANGE", "list", "0", "-1") == "a\nb")
        }
    }

    @Test func pauseStopsAnswersAndResumeRestoresThem() async throws {
        try await withRedisServer { server in
            let probe = RedisProbe(endpoint: .tcp(host: server.host, port: server.port), timeout: .milliseconds(300))
            server.pause()
            let error = await #expect(throws: RedisServerError.self) { try await probe.command("PING") }
            #expect(error?.code == .timedOut)
            server.resume()
            // a probe with a longer timeout: 300 ms is short for a loaded machine
            let answer = try await RedisProbe(endpoint: .tcp(host: server.host, port: server.port), timeout: .seconds(10)).command("PING")
            #expect(answer == .simple("PONG"))
        }
    }

    @Test func stopEndsAPausedServer() async throws {
        try await withRedisServer { server in
            server.pause()
            try await server.stop()
            #expect(kill(server.pid, 0) == -1)
        }
    }

    @Test func unixSocketAnswers() async throws {
        try await withRedisServer(.init(unixSocket: true)) { server in
            let path = try #require(server.socketPath)
            #expect(server.unixURL == "unix://\(path)")
            #expect(path.hasPrefix(server.dataDirectory))
            let probe = RedisProbe(endpoint: .unix(path: path))
            #expect(try await probe.command("SET", "via", "unix") == .simple("OK"))
            #expect(try server.cli("GET", "via") == "unix")
        }
    }

    @Test func passwordIsRequiredAndStaysOffCommandLines() async throws {
        let password = "s3cret \"quoted\" pass"
        try await withRedisServer(.init(password: password)) { server in
            let anonymous = RedisProbe(endpoint: .tcp(host: server.host, port: server.port))
            let reply = try await anonymous.command("GET", "k")
            #expect(reply.errorMessage?.hasPrefix("NOAUTH") == true)

            let authenticated = RedisProbe(endpoint: .tcp(host: server.host, port: server.port), password: password)
            #expect(try await authenticated.command("SET", "k", "v") == .simple("OK"))
            #expect(try server.cli("GET", "k") == "v")

            let commandLine = try String(contentsOfFile: "/proc/\(server.pid)/cmdline", encoding: .utf8)
            #expect(!commandLine.contains("s3cret"))
        }
    }

    @Test func cliReportsErrorReplies() async throws {
        try await withRedisServer { server in
            let error = #expect(throws: RedisServerError.self) { try server.cli("NOSUCHCOMMAND") }
            #expect(error?.code == .commandFailed)
            let missing = try server.cli("GET", "missing")
            #expect(missing == "")
        }
    }

    /// `cli` sends the command itself and prints the reply as `redis-cli -e` does: compared
    /// with `redis-cli --raw` (what it prints off a terminal), run on the same server.
    @Test func cliPrintsRepliesAsRedisCLIDoes() async throws {
        try await withRedisServer(.init(password: "p w")) { server in
            _ = try server.cli("XADD", "s", "1-1", "f", "v", "g", "w")
            _ = try server.cli("XADD", "s", "2-1", "f", "x")
            _ = try server.cli("SET", "k", "v")
            for command in [
                ["XRANGE", "s", "-", "+"], ["MGET", "k", "missing", "k"], ["GET", "missing"], ["XLEN", "s"], ["PING"],
                ["EXISTS", "k", "missing"],
                ["CONFIG", "GET", "maxmemory-policy"], ["EVAL", "return {1, {'a', false}, 'b'}", "0"],
            ] {
                #expect(try server.cli(arguments: command) == server.cli(arguments: ["--raw"] + command), "\(command)")
            }
            #expect(try server.cli("XRANGE", "s", "-", "+") == "1-1\nf\nv\ng\nw\n2-1\nf\nx")
            #expect(try server.cli("MGET", "k", "missing", "k") == "v\n\nv")
        }
    }

    @Test func shutdownRemovesTheDirectoryAndIsIdempotent() async throws {
        let server = try await RedisServer.start()
        let pid = server.pid
        await server.shutdown()
        await server.shutdown()
        #expect(kill(pid, 0) == -1)
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory))
    }

    @Test func droppingTheLastReferenceKillsTheServer() async throws {
        var server: RedisServer? = try await RedisServer.start()
        let pid = try #require(server?.pid)
        let directory = try #require(server?.dataDirectory)
        server = nil
        #expect(kill(pid, 0) == -1)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func aBadArgumentFailsFastWithTheServerOutput() async throws {
        let error = await #expect(throws: RedisServerError.self) {
            try await RedisServer.start(.init(extraArguments: ["--no-such-directive", "1"]))
        }
        #expect(error?.code == .exitedEarly)
        #expect(error?.message.contains("no-such-directive") == true)
    }

    @Test func extraArgumentsReachTheServer() async throws {
        try await withRedisServer(.init(extraArguments: ["--maxmemory", "10mb"])) { server in
            let reply = try server.cli("CONFIG", "GET", "maxmemory")
            #expect(reply == "maxmemory\n10485760")
        }
    }

    @Test func restartRefusesAPortTakenByAnotherServer() async throws {
        try await withRedisServer { server in
            await server.kill()
            let foreign = Process()
            foreign.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            foreign.arguments = ["redis-server", "--port", String(server.port), "--bind", "127.0.0.1", "--save", ""]
            foreign.standardOutput = FileHandle.nullDevice
            try foreign.run()
            defer {
                // SIGKILL: Foundation's Process starts children with SIGTERM blocked.
                kill(foreign.processIdentifier, SIGKILL)
                foreign.waitUntilExit()
            }
            let probe = RedisProbe(endpoint: .tcp(host: server.host, port: server.port), timeout: .milliseconds(200))
            let deadline = ContinuousClock.now + .seconds(60)
            var answer = try? await probe.command("PING")
            while answer != .simple("PONG") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                answer = try? await probe.command("PING")
            }
            try #require(answer == .simple("PONG"), "the other redis-server did not start")
            let error = await #expect(throws: RedisServerError.self) { try await server.restart() }
            #expect(error?.code == .foreignServer || error?.code == .addressInUse)
            #expect(kill(server.pid, 0) == -1, "the server that failed to start was reaped")
        }
    }
}

extension RedisProbe.Reply {
    fileprivate var errorMessage: String? {
        if case .error(let message) = self { message } else { nil }
    }

    /// The `run_id` in an `INFO server` reply: a server's own, new at each start.
    fileprivate var runID: String? {
        string?.split(whereSeparator: \.isNewline).first { $0.hasPrefix("run_id:") }.map(String.init)
    }
}
