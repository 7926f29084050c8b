import Foundation
import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("RedisConfiguration: validation, timeouts, printing")
struct RedisConfigurationTests {
    /// A timeout of zero became a socket timeout of zero, which means none: a server that
    /// stopped answering hung every command.
    @Test("a zero or negative timeout is refused with a clear error", arguments: [Duration.zero, .seconds(-1), .nanoseconds(-1)])
    func nonPositiveTimeouts(timeout: Duration) throws {
        #expect(throws: Never.self) { try RedisConfiguration(url: "redis://h:1").validate() }
        for field in ["connectTimeout", "commandTimeout"] {
            var configuration = try RedisConfiguration(url: "redis://app:hunter2@h:1")
            if field == "connectTimeout" { configuration.connectTimeout = timeout } else { configuration.commandTimeout = timeout }
            #expect {
                try configuration.validate()
            } throws: { error in
                let error = error as! RedisError
                return error.code == .invalidConfiguration && error.message.contains("\(field) must be more than zero")
                    && !"\(error)".contains("hunter2")
            }
        }
    }

    @Test("a client whose command timeout is zero fails each command with that error instead of sending it")
    func clientRefusesAZeroTimeout() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.commandTimeout = .zero
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            for _ in 0..<2 {
                await #expect {
                    try await client.send("PING")
                } throws: { error in
                    let error = error as! RedisError
                    return error.code == .invalidConfiguration && error.message.contains("commandTimeout")
                }
            }
        }
    }

    /// A positive timeout under a microsecond was truncated to a `timeval` of zero: no timeout.
    @Test("socket timeouts round up to whole microseconds and are never zero")
    func socketTimeouts() {
        func micros(_ duration: Duration) -> Int {
            let value = HiredisContext.socketTimeout(duration)
            return value.seconds * 1_000_000 + value.microseconds
        }
        #expect(micros(.nanoseconds(1)) == 1)
        #expect(micros(.nanoseconds(999)) == 1)
        #expect(micros(.nanoseconds(1_001)) == 2)
        #expect(micros(.milliseconds(1_500)) == 1_500_000)
        #expect(micros(.seconds(5)) == 5_000_000)
        #expect(HiredisContext.socketTimeout(.seconds(1) - .nanoseconds(1)) == (1, 0))
        #expect(micros(.zero) > 0)
    }

    /// Without a description of its own, `print(configuration)` showed every stored field,
    /// the password included.
    @Test("printing a configuration never shows its password")
    func printing() throws {
        let canary = "cnry-\(UInt64.random(in: 0...UInt64.max))"
        for url in ["redis://app:\(canary)@10.0.0.1:6379/2", "redis-cluster://:\(canary)@h:7000,h:7001", "rediss://u:\(canary)@h:1?ca=/ca.pem"] {
            let configuration = try RedisConfiguration(url: url)
            var dumped = ""
            dump(configuration, to: &dumped)
            for text in ["\(configuration)", String(describing: configuration), String(reflecting: configuration), dumped] {
                #expect(!text.contains(canary), "\(text)")
                #expect(text.contains("***"), "\(text)")
            }
        }
        let plain = try RedisConfiguration(url: "redis://h:1", password: canary)
        #expect("\(plain)".hasPrefix("RedisConfiguration(redis://:***@h:1, connectTimeout: "), "\(plain)")
    }
}
