import ArgumentParser
import CSpoolExec
import Foundation
import Spool
import SpoolRedis

@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "A Redis-backed job queue for server-side Swift.",
        discussion: """
            Exit status: 0 on success; 64 when the command line cannot be parsed (unknown flag, \
            missing argument, a value of the wrong kind), when a flag's value is out of range \
            (--timeout 0, --count 0, --limit 0, --concurrency 0, --max-attempts 0, a bad --prefix \
            or $SPOOL_PREFIX, an empty $SPOOL_REDIS_URL or $SPOOL_REDIS_PASSWORD, an empty enqueue --key, \
            an enqueue --type with control characters; \
            a worker's settings from flags, without --config), when flags do not \
            go together, or when health or ping has no Redis to check; 1 for every other failure, including values Spool rejects (queue names, \
            JSON, URLs, payload size, config files) and Redis errors.
            """,
        subcommands: [
            PingCommand.self,
            WorkerCommand.self,
            EnqueueCommand.self,
            QueuesCommand.self,
            StatsCommand.self,
            InspectCommand.self,
            JobCommand.self,
            DLQCommand.self,
            HealthCommand.self,
            PrivateRedisCommand.self,
        ]
    )

    /// Prints errors as one line (never a stack trace, never a password) and exits non-zero.
    static func main() async {
        // `spool` started as an exec handler's trampoline: runs the handler program and ends
        // as it did (with glibc a constructor has done so before main; this is for other libcs)
        spool_exec_trampoline(CommandLine.argc, CommandLine.unsafeArgv)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // what `print` wrote must have got out: a reader gone before the end (`| head`)
            // ends the command as SIGPIPE does (status 141); any other failed write is an error
            let written = spool_flush_stdout()
            if written == EPIPE { StandardOutput.readerGone() }
            if written != 0 {
                fail(CLIError("the command ran, but writing its output failed: \(String(cString: strerror(written)))"))
            }
            StandardError.flush()
        } catch {
            fail(error)
        }
    }

    /// Reports `error` as one `spool: ...` line on stderr and exits with its status.
    static func fail(_ error: any Error) -> Never {
        switch error {
        case let error as ExitCode:
            StandardError.exit(error.rawValue)
        case let error as CLIError:
            printError(error.message)
            StandardError.exit(error.exitCode)
        case let error as RedisError:
            printError("\(error)")
            StandardError.exit(1)
        case let error as SpoolError:
            printError(error.message)
            StandardError.exit(1)
        default:
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help, --version: the full text, exit 0
            }
            let text = firstParagraph(message(for: error)) ?? "\(error)"
            var line = text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text
            // the parser names the option but not what a duration looks like
            if line.hasPrefix("The value '") && line.contains(" <duration>'") {
                line += ": " + DurationArgument.formatHint
            } else if line.hasPrefix("The value '") && line.contains("'--since <time>'") {
                line += ": " + SinceArgument.formatHint
            }
            printError(RedisURL.redact(line) + " (see `spool help`)")
            StandardError.exit(code.rawValue)
        }
    }

    /// The argument parser's message up to its usage text, as one line: a list of choices
    /// (`- trace`, `- debug`, ...) joined with commas; `nil` when it is empty.
    static func firstParagraph(_ message: String) -> String? {
        var parts: [String] = []
        var choices: [String] = []
        for rawLine in message.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("Usage:") { break }
            if line.hasPrefix("- ") { choices.append(String(line.dropFirst(2))) } else { parts.append(line) }
        }
        if !choices.isEmpty { parts.append(choices.joined(separator: ", ")) }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// Writes `spool: <message>` on stderr, flattened to one line (never trapping on a closed
    /// stderr; in the worker, after the log lines queued before it).
    static func printError(_ message: String) {
        let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        StandardError.writeLine("spool: \(line)")
    }
}

/// A failure of the command itself, reported as one line with an exit status (1 unless said).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32 = 1

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    var description: String { message }
}
