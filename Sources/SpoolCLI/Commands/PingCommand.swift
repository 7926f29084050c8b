import ArgumentParser
import SpoolRedis

/// `spool ping`: checks that Redis answers, with the round-trip time.
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Check that Redis answers and print the round-trip time."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = RedisClient(configuration: try connection.configuration(checking: "spool ping"))
        defer { client.shutdown() }
        let clock = ContinuousClock()
        let start = clock.now
        let reply = try await client.send(RedisCommand("PING"))
        let elapsed = clock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        print("\(reply.string ?? "\(reply)") from \(client.redactedAddress) in \(micros) µs")
    }
}
