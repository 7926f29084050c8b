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
}
