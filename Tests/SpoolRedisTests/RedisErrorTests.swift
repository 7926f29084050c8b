import Foundation
import Testing
@testable import SpoolRedis

@Suite("RedisError")
struct RedisErrorTests {
    @Test("localizedDescription is the one-line description, not Foundation's generic text")
    func localizedDescription() {
        let error: any Error = RedisError(code: .timeout, message: "no reply within 2s", address: "redis://127.0.0.1:6379")
        #expect(error.localizedDescription == "Redis at redis://127.0.0.1:6379: timed out: no reply within 2s")
    }

    @Test("the authentication hint says where a library user puts the password, and that only the CLI reads SPOOL_REDIS_PASSWORD")
    func authenticationHint() {
        let error = RedisError.reply("WRONGPASS invalid username-password pair or user is disabled.", address: nil)
        #expect(error.code == .authenticationFailed)
        #expect(error.message.contains("in the URL or RedisConfiguration"), "\(error.message)")
        #expect(error.message.contains("the spool CLI also reads SPOOL_REDIS_PASSWORD"), "\(error.message)")
    }
}
