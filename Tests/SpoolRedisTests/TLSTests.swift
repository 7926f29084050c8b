import Foundation
import SpoolTesting
import Synchronization
import Testing
@testable import SpoolRedis

@Suite("TLS (rediss://)")
struct TLSTests {
    static let connectTimeout: Duration = .seconds(2)

    /// Runs `body` with fresh certificates and a server listening for TLS with `certificate`.
    func withTLSServer(
        certificate: KeyPath<TestCertificates, String> = \.serverCertificate,
        requireClientCertificates: Bool = false,
        _ body: (RedisServer, TestCertificates) async throws -> Void
    ) async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tls = RedisServer.Options.TLS(
            certificateFile: certificates[keyPath: certificate], keyFile: certificates.serverKey,
            caFile: certificates.caFile, requireClientCertificates: requireClientCertificates
        )
        try await withRedisServer(.init(tls: tls)) { server in
            try await body(server, certificates)
        }
    }

    func client(_ url: String) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url)
        configuration.connectTimeout = Self.connectTimeout
        // far longer than the connect timeout, so a failure in time shows the connect timeout
        // ended the attempt
        configuration.commandTimeout = .seconds(60)
        configuration.reconnectBaseDelay = .milliseconds(1)
        return RedisClient(configuration: configuration)
    }

    /// Expects the first command to fail with `connectionFailed` within the connect timeout,
    /// with every expected fragment in the message.
    func expectRefused(_ url: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let client = try client(url)
        defer { client.shutdown() }
        let start = ContinuousClock.now
        let error = await #expect(throws: RedisError.self, sourceLocation: sourceLocation) {
            try await client.send("PING")
        }
        let elapsed = ContinuousClock.now - start
        // bounded by the connect timeout, with slack for a loaded machine, and far below the
        // 60 s command timeout: it must not hang (a plaintext port gives no TLS answer at
        // all, so only the connect timeout ends the attempt)
        #expect(elapsed < Self.connectTimeout + .seconds(8), "failed after \(elapsed)", sourceLocation: sourceLocation)
        #expect(error?.code == .connectionFailed, "\(String(describing: error))", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error?.message.contains(fragment) == true, "\(String(describing: error)) lacks \(fragment)", sourceLocation: sourceLocation)
        }
    }

    @Test("rediss:// URLs: TLS options from the query, redacted as rediss://")
    func urls() throws {
        let url = try RedisURL.parse("rediss://u:pw@db.example:6380/2?ca=/etc/ca.pem&cert=/c.pem&key=/k.pem&sni=redis.example&verify=yes")
        #expect(url.address == .tcp(host: "db.example", port: 6380) && url.database == 2 && url.password == "pw")
        #expect(url.tls == TLSOptions(caFile: "/etc/ca.pem", certificateFile: "/c.pem", keyFile: "/k.pem", serverName: "redis.example"))
        #expect(try RedisURL.parse("rediss://localhost").tls == TLSOptions())
        #expect(try RedisURL.parse("rediss://localhost?verify=no").tls?.verify == false)
        #expect(try RedisURL.parse("redis://localhost").tls == nil)
        #expect(throws: RedisError.self) { try RedisURL.parse("redis://localhost?ca=/x.pem") }
        #expect(throws: RedisError.self) { try RedisURL.parse("rediss://localhost?verify=maybe") }
        let configuration = try RedisConfiguration(url: "rediss://u:secret@127.0.0.1:7000")
        #expect(configuration.redactedURL == "rediss://u:***@127.0.0.1:7000")
    }

    @Test("with the right CA: PING, SET/GET, a pipeline of 1,000 commands, by IP and by name")
    func rightCA() async throws {
        try await withTLSServer { server, certificates in
            let port = try #require(server.tlsPort)
            for host in ["127.0.0.1", "localhost"] {
                let client = try client("rediss://\(host):\(port)?ca=\(certificates.caFile)")
                defer { client.shutdown() }
                #expect(try await client.send("PING") == .simpleString("PONG"))
                _ = try await client.send("SET", "tls:\(host)", "secret value")
                #expect(try await client.send("GET", "tls:\(host)").string == "secret value")
                let replies = try await client.pipeline((0..<1_000).map { _ in RedisCommand("INCR", "tls:counter:\(host)") })
                #expect(replies.count == 1_000 && replies.last == .integer(1_000))
                #expect(try await client.send("CLIENT", "GETNAME").string == "spool-0")
            }
            #expect(try server.cli("GET", "tls:counter:localhost") == "1000")
        }
    }

    @Test("a blocking read on a dedicated TLS connection is interrupted by cancellation, and the connection recovers")
    func interruptAndReconnect() async throws {
        try await withTLSServer { server, certificates in
            let client = try client("rediss://127.0.0.1:\(try #require(server.tlsPort))?ca=\(certificates.caFile)")
            defer { client.shutdown() }
            try await client.withDedicatedConnection { connection in
                let blocked = Task {
                    try await connection.sendInterruptible(RedisCommand("BLPOP", "tls:nothing", "10"), timeout: .seconds(15))
                }
                try await Task.sleep(for: .milliseconds(200))
                blocked.cancel()
                await #expect(throws: RedisError.self) { try await blocked.value }
                #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
            }
            // the server drops every client: the next command fails, the one after reconnects
            _ = try server.cli("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            _ = try? await client.send("PING")
            #expect(try await client.send("PING") == .simpleString("PONG"))
        }
    }

    @Test("a certificate from another CA fails closed within the connect timeout")
    func wrongCA() async throws {
        try await withTLSServer { server, certificates in
            let url = "rediss://127.0.0.1:\(try #require(server.tlsPort))?ca=\(certificates.otherCAFile)"
            try await expectRefused(url, ["TLS handshake failed", "not trusted"])
        }
    }

    @Test("the system trust store does not trust a private CA")
    func systemTrust() async throws {
        try await withTLSServer { server, _ in
            try await expectRefused("rediss://127.0.0.1:\(try #require(server.tlsPort))", ["TLS handshake failed"])
        }
    }

    @Test("an expired server certificate fails closed within the connect timeout")
    func expired() async throws {
        try await withTLSServer(certificate: \.expiredCertificate) { server, certificates in
            let url = "rediss://127.0.0.1:\(try #require(server.tlsPort))?ca=\(certificates.caFile)"
            try await expectRefused(url, ["TLS handshake failed", "CERTIFICATE_VERIFY_FAILED", "expired"])
        }
    }

    @Test("a host the certificate does not name fails closed; its name (or sni=) works")
    func nameMismatch() async throws {
        try await withTLSServer(certificate: \.namedCertificate) { server, certificates in
            let port = try #require(server.tlsPort)
            // the certificate names localhost only, not 127.0.0.1
            try await expectRefused("rediss://127.0.0.1:\(port)?ca=\(certificates.caFile)", ["does not name 127.0.0.1"])
            try await expectRefused("rediss://localhost:\(port)?ca=\(certificates.caFile)&sni=redis.example", ["does not name redis.example"])
            for url in ["rediss://localhost:\(port)?ca=\(certificates.caFile)", "rediss://127.0.0.1:\(port)?ca=\(certificates.caFile)&sni=localhost"] {
                let client = try client(url)
                defer { client.shutdown() }
                #expect(try await client.send("PING") == .simpleString("PONG"))
            }
        }
    }

    @Test("rediss:// to a plaintext port fails closed within the connect timeout, never falling back")
    func plaintextPort() async throws {
        try await withTLSServer { server, certificates in
            try await expectRefused("rediss://127.0.0.1:\(server.port)?ca=\(certificates.caFile)", ["TLS"])
            let clients = try server.cli("CLIENT", "LIST")
            #expect(!clients.contains("name=spool"), "no plaintext session was set up")
        }
    }

    @Test("mutual TLS: works with the client certificate, fails closed without it")
    func mutualTLS() async throws {
        try await withTLSServer(requireClientCertificates: true) { server, certificates in
            let base = "rediss://127.0.0.1:\(try #require(server.tlsPort))?ca=\(certificates.caFile)"
            let client = try client(base + "&cert=\(certificates.clientCertificate)&key=\(certificates.clientKey)")
            defer { client.shutdown() }
            #expect(try await client.send("PING") == .simpleString("PONG"))
            try await expectRefused(base, ["TLS handshake failed", "requires a client certificate"])
            // a certificate the server's CA did not sign is refused as well
            try await expectRefused(base + "&cert=\(certificates.otherCAFile)&key=\(certificates.directory)/other-ca.key", ["TLS handshake failed", "refused the client certificate"])
        }
    }

    @Test("a failed TLS setup is not built again while its files are unchanged, and is once one changes")
    func setupFailureRemembered() async throws {
        try await withTLSServer(requireClientCertificates: true) { server, certificates in
            // the server's key given for the client's certificate: building the context fails
            let key = certificates.directory + "/rotating.key"
            try FileManager.default.copyItem(atPath: certificates.serverKey, toPath: key)
            let port = try #require(server.tlsPort)
            var configuration = try RedisConfiguration(
                url: "rediss://127.0.0.1:\(port)?ca=\(certificates.caFile)&cert=\(certificates.clientCertificate)&key=\(key)"
            )
            // every command tries to connect again at once
            configuration.reconnectBaseDelay = .zero
            configuration.reconnectMaxDelay = .zero
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            func builds() -> Int { TLSTunnel.contextBuilds.withLock { $0[key] ?? 0 } }
            for _ in 0..<3 {
                let error = await #expect(throws: RedisError.self) { try await client.send("PING") }
                #expect(error?.message.contains("does not match the certificate") == true, "\(String(describing: error))")
            }
            // built once: each build that fails leaks NIOSSL's context (docs/reliability.md)
            #expect(builds() == 1)
            // the right key written over the wrong one is read on the next attempt
            try String(contentsOfFile: certificates.clientKey, encoding: .utf8).write(toFile: key, atomically: false, encoding: .utf8)
            #expect(try await client.send("PING") == .simpleString("PONG"))
            #expect(builds() == 2)
            // a setup that worked is built again on the next connect (a renewed certificate is
            // read then): the server drops the connection, the client connects again
            _ = try server.cli("CLIENT", "KILL", "TYPE", "normal")
            var answered = false
            for _ in 0..<3 where !answered {
                answered = (try? await client.send("PING")) == .simpleString("PONG")
            }
            #expect(answered)
            #expect(builds() == 3)
        }
    }

    @Test("unreadable TLS files give a clear connectionFailed error")
    func missingFiles() async throws {
        try await expectRefused("rediss://127.0.0.1:1?ca=/nonexistent/ca.pem", ["TLS setup failed"])
        try await expectRefused("rediss://127.0.0.1:1?cert=/nonexistent/c.pem", ["TLS setup failed"])
    }

    /// Each TLS file error names the option, the path and why, in one line (it used to be
    /// NIOSSL's `noSuchFilesystemObject`, `failedToLoadCertificate` or, for a key of another
    /// certificate, a misleading `failedToLoadPrivateKey`). Setup fails before any connect,
    /// so no server is needed.
    @Test("each TLS file error names the option, the path and the reason")
    func fileErrorsNameTheFile() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let directory = certificates.directory
        let notPEM = directory + "/not-pem.txt"
        try writeFile(notPEM, "this is not PEM\n")
        let cert = certificates.clientCertificate
        let key = certificates.clientKey
        let base = "rediss://127.0.0.1:1?"
        let cases: [(query: String, fragments: [String])] = [
            ("ca=/nonexistent/ca.pem", ["TLS setup failed: ca=/nonexistent/ca.pem cannot be read: No such file or directory"]),
            ("ca=\(notPEM)", ["ca=\(notPEM) is not a PEM file of CA certificates"]),
            ("cert=/nonexistent/c.pem&key=\(key)", ["cert=/nonexistent/c.pem cannot be read: No such file or directory"]),
            ("cert=\(notPEM)&key=\(key)", ["cert=\(notPEM) is not a PEM certificate"]),
            ("cert=\(directory)&key=\(key)", ["cert=\(directory) is a directory"]),
            ("cert=\(cert)&key=/nonexistent/k.pem", ["key=/nonexistent/k.pem cannot be read: No such file or directory"]),
            ("cert=\(cert)&key=\(notPEM)", ["key=\(notPEM) is not a PEM private key", "passphrase"]),
            // a certificate given as the key
            ("cert=\(cert)&key=\(cert)", ["key=\(cert) is not a PEM private key"]),
            // a key that loads but belongs to another certificate
            ("cert=\(cert)&key=\(certificates.serverKey)", ["key=\(certificates.serverKey) does not match the certificate in cert=\(cert)"]),
        ]
        for (query, fragments) in cases {
            try await expectRefused(base + query, fragments + ["TLS setup failed: "])
        }
        // permission denied can only be seen by a user the file mode binds (not root)
        if geteuid() != 0 {
            let locked = directory + "/locked.pem"
            try writeFile(locked, "")
            #expect(chmod(locked, 0) == 0)
            try await expectRefused(base + "ca=\(locked)", ["ca=\(locked) cannot be read: Permission denied"])
        }
        // the right files pass TLS setup: what fails then is the connect to port 1
        let client = try client(base + "ca=\(certificates.caFile)&cert=\(cert)&key=\(key)")
        defer { client.shutdown() }
        let error = await #expect(throws: RedisError.self) { try await client.send("PING") }
        #expect(error?.code == .connectionFailed && error?.message.contains("TLS setup failed") == false, "\(String(describing: error))")
    }

    private func writeFile(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }
}
