import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("Shutdown while a connection is connecting")
struct ShutdownWhileConnectingTests {
    /// A blocking command whose connection is still connecting when the client shuts down
    /// must not be sent: `BLPOP ... 0` never ends by itself, and `shutdown()` joins the thread.
    ///
    /// Every crossing of the proxy takes 250 ms, the server's replies included. Over TLS the
    /// shutdown comes during the TLS handshake, before the socket exists (it used to be missed:
    /// the BLPOP went out and `shutdown()` hung); over plain TCP it comes during CLIENT
    /// SETNAME (the socket was shut down, and the call failed as "connection closed").
    @Test("shutdown during the connect or handshake fails a queued BLPOP 0 as shut down, and shutdown() returns",
          .timeLimit(.minutes(3)), arguments: [false, true])
    func blockingCommandNotSent(tls: Bool) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tlsOptions = RedisServer.Options.TLS(
            certificateFile: certificates.serverCertificate, keyFile: certificates.serverKey, caFile: certificates.caFile
        )
        try await withRedisServer(.init(tls: tls ? tlsOptions : nil)) { server in
            let target = tls ? try #require(server.tlsPort) : server.port
            let proxy = try DelayProxy(targetHost: server.host, targetPort: target, delay: .milliseconds(250) ... .milliseconds(250))
            defer { proxy.stop() }
            let url = tls ? "rediss://127.0.0.1:\(proxy.port)?ca=\(certificates.caFile)" : proxy.url
            var configuration = try RedisConfiguration(url: url)
            configuration.connectTimeout = .seconds(20)
            configuration.commandTimeout = .seconds(20)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            let key = "never-pushed"
            let adminConfiguration = try RedisConfiguration(url: server.url)

            let blocked = Task {
                try await client.withDedicatedConnection { connection in
                    try await connection.sendInterruptible(RedisCommand("BLPOP", key, "0"), timeout: .seconds(60))
                }
            }
            // the connection reached the proxy: its handshake, 500 ms or more from here (TLS:
            // twice that), is under way
            _ = try await eventually(within: .seconds(10)) {
                if proxy.acceptedConnections == 0 {
                    throw RedisServerError(code: .timedOut, message: "the client's connect has not reached the proxy")
                }
            }
            // shutdown() joins the connection's thread: off the cooperative pool
            let shutdown = Task { try await runOffThePool { client.shutdown() } }

            let outcome = await result(of: blocked, within: .seconds(10)) {
                // the BLPOP went out: end it, so that the blocked task and shutdown() return
                let admin = RedisClient(configuration: adminConfiguration)
                defer { admin.shutdown() }
                _ = try? await admin.send("LPUSH", key, "released")
            }
            try await shutdown.value
            guard let outcome else {
                Issue.record("the blocking call did not return within 10 s of shutdown()")
                return
            }
            switch outcome {
            case .success(let reply):
                Issue.record("the BLPOP was sent and answered after shutdown: \(reply)")
            case .failure(let error):
                #expect((error as? RedisError)?.code == .shutdown, "\(error)")
            }
        }
    }
}
