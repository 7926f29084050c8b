import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("AUTH and ACL users")
struct AuthenticationTests {
    @Test("an ACL user limited to ~spool:* works on its keys and is refused others")
    func aclUser() async throws {
        try await withRedisServer { server in
            _ = try server.cli("ACL", "SETUSER", "spooler", "on", ">s3cret-canary", "~spool:*", "+@all", "-@dangerous", "+client|setname")
            let client = RedisClient(configuration: try RedisConfiguration(url: "redis://spooler:s3cret-canary@127.0.0.1:\(server.port)"))
            defer { client.shutdown() }
            #expect(try await client.send("SET", "spool:x", "1") == .simpleString("OK"))
            #expect(try await client.send("CLIENT", "GETNAME").string == "spool-0")
            #expect(try await client.send("ACL", "WHOAMI").string == "spooler")
            await #expect {
                try await client.send("SET", "other:x", "1")
            } throws: { error in
                let error = error as! RedisError
                return error.code == .noPermission && !"\(error)".contains("s3cret-canary")
            }
        }
    }

    @Test("a wrong password gives a clear error that does not contain the password")
    func wrongPassword() async throws {
        try await withRedisServer(.init(password: "right-password")) { server in
            for url in ["redis://:wrong-canary@127.0.0.1:\(server.port)", "redis://default:wrong-canary@127.0.0.1:\(server.port)"] {
                let client = RedisClient(configuration: try RedisConfiguration(url: url))
                defer { client.shutdown() }
                await #expect {
                    try await client.send("PING")
                } throws: { error in
                    let error = error as! RedisError
                    let text = "\(error)"
                    return error.code == .authenticationFailed && !text.contains("wrong-canary") && text.contains("***")
                }
            }
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url, password: "right-password"))
            defer { client.shutdown() }
            #expect(try await client.send("PING") == .simpleString("PONG"))
        }
    }

    @Test("no password against a server that requires one: NOAUTH, clearly")
    func missingPassword() async throws {
        try await withRedisServer(.init(password: "pw")) { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            await #expect {
                try await client.send("GET", "x")
            } throws: { error in
                (error as! RedisError).code == .authenticationFailed
            }
        }
    }

    @Test("a user name without a password authenticates as that user, never as default")
    func userWithoutPassword() async throws {
        try await withRedisServer { server in
            // the default user has every right and no password: skipping AUTH would succeed
            _ = try server.cli("ACL", "SETUSER", "open-user", "on", "nopass", "~spool:*", "+@all")
            _ = try server.cli("ACL", "SETUSER", "spool-worker", "on", ">pw-canary", "~spool:*", "+@all")
            let open = RedisClient(configuration: try RedisConfiguration(url: "redis://open-user@127.0.0.1:\(server.port)"))
            defer { open.shutdown() }
            #expect(try await open.send("ACL", "WHOAMI").string == "open-user")

            let client = RedisClient(configuration: try RedisConfiguration(url: "redis://spool-worker@127.0.0.1:\(server.port)"))
            defer { client.shutdown() }
            let error = await #expect(throws: RedisError.self) {
                try await client.send("PING")
            }
            #expect(error?.code == .authenticationFailed, "\(String(describing: error))")
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("the URL's user name was given without a password"), "\(text)")
            // redis-cli reads `redis://X@host` as password X: the error names no user
            #expect(!text.contains("spool-worker") && text.contains("redis://***@127.0.0.1:\(server.port)"), "\(text)")
            #expect(text.contains("SPOOL_REDIS_PASSWORD") && !text.contains("pw-canary") && !text.contains("\n"), "\(text)")

            // with the password from elsewhere (SPOOL_REDIS_PASSWORD's route) it is that user
            let right = RedisClient(configuration: try RedisConfiguration(url: "redis://spool-worker@127.0.0.1:\(server.port)", password: "pw-canary"))
            defer { right.shutdown() }
            #expect(try await right.send("ACL", "WHOAMI").string == "spool-worker")
        }
    }

    /// With AUTH renamed away, Redis echoes the arguments of the handshake's AUTH, password
    /// included, in its error reply; that reply became the error's message unfiltered.
    @Test("an AUTH the server does not know fails without echoing the password")
    func renamedAuth() async throws {
        try await withRedisServer(.init(extraArguments: ["--rename-command", "AUTH", ""])) { server in
            for url in ["redis://app:s3cretPassw0rd@127.0.0.1:\(server.port)", "redis://:s3cretPassw0rd@127.0.0.1:\(server.port)"] {
                let client = RedisClient(configuration: try RedisConfiguration(url: url))
                defer { client.shutdown() }
                let error = await #expect(throws: RedisError.self) {
                    try await client.send("PING")
                }
                let text = error.map { "\($0)" } ?? ""
                #expect(text.contains("AUTH failed: ERR unknown command 'AUTH'"), "\(text)")
                #expect(!text.contains("s3cretPassw0rd") && !text.contains("s3cret") && !text.contains("'app'"), "\(text)")
            }
        }
    }

    @Test("a handshake reply is cut before the echoed arguments, and the password replaced anywhere")
    func redactingHandshakeReplies() {
        let long = String(repeating: "p", count: 200)
        // Redis echoes at most 128 characters of arguments: a cut-off password is still cut
        let echoed = "ERR unknown command 'AUTH', with args beginning with: 'app' '\(long.prefix(120))' "
        let redacted = RedisError.redactingHandshakeReply(echoed, password: long)
        #expect(redacted == "ERR unknown command 'AUTH', with args beginning with: (redacted)")
        #expect(RedisError.redactingHandshakeReply("ERR odd pw-x here", password: "pw-x") == "ERR odd *** here")
        #expect(RedisError.redactingHandshakeReply("WRONGPASS invalid", password: "") == "WRONGPASS invalid")
    }

    @Test("SELECT from the URL's database")
    func selectsDatabase() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url + "/5"))
            defer { client.shutdown() }
            _ = try await client.send("SET", "in-db-5", "yes")
            #expect(try server.cli("-n", "5", "GET", "in-db-5") == "yes")
            #expect(try server.cli("GET", "in-db-5") == "")
        }
    }
}
