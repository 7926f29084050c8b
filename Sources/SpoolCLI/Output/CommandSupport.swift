import ArgumentParser
import Foundation
import Spool
import SpoolRedis

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with an inspector on a fresh client; Spool and Redis errors become one line
/// on stderr (`spool: …`, never a password or a stack trace) and exit status 1.
func withInspector<T>(
    _ connection: ConnectionOptions, checking command: String? = nil, _ body: (SpoolInspector) async throws -> T
) async throws -> T {
    let configuration = try connection.configuration(checking: command)
    let client = RedisClient(configuration: configuration)
    defer { client.shutdown() }
    do {
        return try await body(SpoolInspector(client: client, prefix: connection.keyPrefix))
    } catch let error as SpoolError {
        throw Terminal.fail("\(error)")
    } catch let error as RedisError {
        throw Terminal.fail("\(error)")
    }
}

/// Like ``withInspector(_:_:)``, also handing over the client for commands the inspector
/// does not send.
func withInspectorClient<T>(
    _ connection: ConnectionOptions, _ body: (SpoolInspector, RedisClient) async throws -> T
) async throws -> T {
    let configuration = try connection.configuration()
    let client = RedisClient(configuration: configuration)
    defer { client.shutdown() }
    do {
        return try await body(SpoolInspector(client: client, prefix: connection.keyPrefix), client)
    } catch let error as SpoolError {
        throw Terminal.fail("\(error)")
    } catch let error as RedisError {
        throw Terminal.fail("\(error)")
    }
}

/// Standard streams and the terminal.
enum Terminal {
    /// Writes one line to stderr (never trapping on a closed stderr).
    static func error(_ line: String) {
        StandardError.writeLine(line)
    }

    /// Prints `spool: message` on stderr and returns the exit status 1 to throw.
    static func fail(_ message: String) -> ExitCode {
        error("spool: " + message)
        return ExitCode(1)
    }

    /// Whether stdin is a terminal a person can answer on.
    static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    /// Whether stdout is a terminal (`queues --watch` redraws in place there).
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Whether stderr is a terminal (progress rewrites one line there).
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// Asks a yes/no question on stderr and reads the answer from stdin; only `y`/`yes` agree.
    static func confirm(_ question: String) -> Bool {
        StandardError.write(Array((question + " [y/N] ").utf8))
        guard let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return answer == "y" || answer == "yes"
    }
}
