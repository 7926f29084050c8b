import ArgumentParser
import Foundation
import SpoolRedis

@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "A Redis-backed job queue for server-side Swift.",
        subcommands: [
            PingCommand.self,
            QueuesCommand.self,
            InspectCommand.self,
            JobCommand.self,
            DLQCommand.self,
            HealthCommand.self,
        ]
    )

    /// Prints errors as one line (never a stack trace, never a password) and exits non-zero.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as RedisError {
            FileHandle.standardError.write(Data("spool: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}
