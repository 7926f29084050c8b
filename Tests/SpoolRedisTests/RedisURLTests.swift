import Testing
@testable import SpoolRedis

@Suite("Redis URLs")
struct RedisURLTests {
    @Test("parses TCP URLs with user, password, port and database")
    func parsesTCP() throws {
        let url = try RedisURL.parse("redis://worker:s%40cret@redis.internal:6380/3")
        #expect(url.address == .tcp(host: "redis.internal", port: 6380))
        #expect(url.username == "worker")
        #expect(url.password == "s@cret")
        #expect(url.database == 3)
    }

    @Test("defaults: port 6379, database 0, no credentials")
    func defaults() throws {
        let url = try RedisURL.parse("redis://localhost")
        #expect(url.address == .tcp(host: "localhost", port: 6379))
        #expect(url.username == nil && url.password == nil && url.database == 0)
    }

    @Test("a password alone, and IPv6 hosts")
    func passwordOnlyAndIPv6() throws {
        let url = try RedisURL.parse("redis://:pw@[::1]:7000")
        #expect(url.address == .tcp(host: "::1", port: 7000))
        #expect(url.username == nil)
        #expect(url.password == "pw")
    }

    @Test("unix socket URLs with a database")
    func parsesUnix() throws {
        let url = try RedisURL.parse("unix:///run/redis/redis.sock?db=2")
        #expect(url.address == .unix(path: "/run/redis/redis.sock"))
        #expect(url.database == 2)
    }

    @Test(
        "bad URLs give a clear error without the password",
        arguments: [
            "localhost:6379", "http://u:hunter2@host", "redis://u:hunter2@host:99999", "redis://u:hunter2@host/x",
            "unix://relative.sock", "redis://u:hunter2@host/0?color=blue", "redis://u:hunter2@[::1",
            // found by the password canary test: no scheme, '/' or '?' in the password, other
            // spellings or repeats of the password parameter
            "u:hunter2@host:6379", ":hunter2@host", "redis://u:hunter2/x@host", "redis://u:hunter2?x@host",
            "redis://host/0?PASSWORD=hunter2", "redis://host?password=a&password=hunter2&bogus=1",
            "unix:///x.sock?password=hunter2&db=x",
        ]
    )
    func rejectsBadURLs(_ text: String) {
        #expect {
            _ = try RedisURL.parse(text)
        } throws: { error in
            let error = error as! RedisError
            let message = "\(error)"
            return error.code == .invalidURL && !message.contains("hunter2") && message.contains("use redis://")
        }
    }

    @Test("a '/' or '?' inside the password: the error says to percent-encode it")
    func reservedCharacterInPassword() {
        for text in ["redis://:hunter2/x@127.0.0.1:6450", "redis://u:hunter2?x@host"] {
            #expect {
                _ = try RedisURL.parse(text)
            } throws: { error in
                let message = "\(error)"
                return message.contains("must be percent-encoded: %2F, %3F") && !message.contains("hunter2")
            }
        }
        // a well-formed URL with a percent-encoded '/' in its password parses
        let parsed = try? RedisURL.parse("redis://:hunter2%2Fx@127.0.0.1:6450")
        #expect(parsed?.password == "hunter2/x")
    }

    @Test("redactedURL never shows the password")
    func redaction() throws {
        var configuration = try RedisConfiguration(url: "redis://app:topsecret@h:1/2")
        #expect(configuration.redactedURL == "redis://app:***@h:1/2")
        configuration = try RedisConfiguration(url: "redis://h", password: "fromenv")
        #expect(configuration.password == "fromenv")
        #expect(configuration.redactedURL == "redis://:***@h:6379")
        #expect(RedisURL.redact("redis://a:b@c/0?password=d") == "redis://a:***@c/0?password=***")
    }

    /// A user name by RFC 3986 and to Spool, but redis-cli reads `redis://SECRET@host` as a
    /// password: it was printed as it stood.
    @Test("a userinfo without ':' is hidden whole, in the URL and in the configuration's redacted URL", arguments: [
        ("redis://SECRET@h:1", "redis://***@h:1"),
        ("rediss://SECRET@h:1/2", "rediss://***@h:1/2"),
        ("redis-cluster://SECRET@h:1,h:2", "redis-cluster://***@h:1,h:2"),
        ("unix://SECRET@/run/redis.sock", "unix://***@/run/redis.sock"),
    ])
    func userinfoWithoutColon(url: String, shown: String) throws {
        #expect(RedisURL.redact(url) == shown)
        let configuration = try RedisConfiguration(url: url)
        #expect(configuration.username == "SECRET")
        #expect(!configuration.redactedURL.contains("SECRET") && configuration.redactedURL.contains("***@"), "\(configuration.redactedURL)")
        #expect(!"\(configuration)".contains("SECRET"))
    }

    @Test("redaction hides a password holding '@', '&', '/' or '?' under either reading of the URL", arguments: [
        // an '@' in a query value: the userinfo is not before it
        ("redis://localhost/0?db=x&password=top@secret", "redis://localhost/0?db=x&password=***"),
        ("unix:///run/redis.sock?password=top@secret&db=q", "unix:///run/redis.sock?password=***&db=***"),
        // a '&' in a query password: what follows may be the rest of it
        ("redis://h:1?password=abc&SECRET", "redis://h:1?password=***&***"),
        ("redis://h:1?password=abc&SECRET=x&db=2", "redis://h:1?password=***&***&db=***"),
        // a '/' or '?' in the userinfo's password
        ("redis://app:top/secret@h:1", "redis://app:***@h:1"),
        ("redis://app:top?secret@h:1", "redis://app:***"),
        // harmless settings before any secret stay readable
        ("rediss://h:1/0?db=2&sni=example.com&verify=no", "rediss://h:1/0?db=2&sni=example.com&verify=no"),
        ("redis://h:1?bogus=1", "redis://h:1?***"),
    ])
    func redactionOfOddPasswords(url: String, shown: String) {
        #expect(RedisURL.redact(url) == shown)
        for secret in ["top", "secret", "SECRET", "abc"] where url.contains(secret) {
            #expect(!RedisURL.redact(url).contains(secret))
        }
    }

    @Test("an unknown parameter after a password is not named: it may be the password's rest")
    func unknownParameterAfterPassword() {
        #expect {
            try RedisURL.parse("redis://h:1?password=abc&SECRETPART")
        } throws: { error in
            let text = "\(error)"
            return text.contains("unknown parameter after password=") && text.contains("%26") && !text.contains("SECRETPART")
        }
    }
}
