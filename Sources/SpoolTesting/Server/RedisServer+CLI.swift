#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

extension RedisServer {
    /// Sends a command to this server and returns its reply as `redis-cli` prints it, trimmed.
    ///
    /// For example `try server.cli("GET", "k")` returns `"v"`. See ``cli(arguments:timeout:)``.
    public func cli(_ arguments: String...) throws -> String {
        try cli(arguments: arguments)
    }

    /// Sends a command to this server's TCP port and returns its reply as `redis-cli -e`
    /// prints it off a terminal, trimmed: one line per element of an array (nested arrays
    /// flattened), an empty line for nil, an integer in decimal.
    ///
    /// The command goes over a connection of its own (``RedisProbe``), with `AUTH` and the
    /// password first when the server has one. It blocks the calling thread for one round
    /// trip; it started a `redis-cli` process before, which held a thread of Swift's task pool
    /// (two on a 2-core machine) for milliseconds per call, and a loaded suite stalled on it.
    /// Arguments that start with `-` are `redis-cli`'s own options (`--cluster create …`):
    /// those still run `redis-cli`, with the password in the `REDISCLI_AUTH` environment
    /// variable, never on a command line.
    /// - Parameters:
    ///   - arguments: The command and its arguments.
    ///   - timeout: How long the whole call may take. Defaults to 10 seconds.
    /// - Throws: `RedisServerError` `.commandFailed` for an error reply, a refused `AUTH` or a
    ///   failed connection; `.timedOut` (for example, against a paused server).
    public func cli(arguments: [String], timeout: Duration = .seconds(10)) throws -> String {
        guard let command = arguments.first else {
            throw RedisServerError(code: .commandFailed, message: "no command given")
        }
        if command.hasPrefix("-") { return try redisCLI(arguments: arguments, timeout: timeout) }
        let probe = RedisProbe(endpoint: .tcp(host: host, port: port), password: options.password, timeout: timeout)
        let reply: RedisProbe.Reply
        do {
            reply = try probe.pipelineBlocking([arguments])[0]
        } catch {
            throw RedisServerError(code: error.code == .timedOut ? .timedOut : .commandFailed, message: "\(command): \(error.message)")
        }
        if case .error(let message) = reply {
            throw RedisServerError(code: .commandFailed, message: "\(command): \(message)")
        }
        return Self.printed(reply).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `reply` as `redis-cli` prints it in raw mode.
    static func printed(_ reply: RedisProbe.Reply) -> String {
        switch reply {
        case .simple(let text), .error(let text): text
        case .integer(let value): String(value)
        case .bulk(let text): text ?? ""
        case .array(let elements): (elements ?? []).map(printed).joined(separator: "\n")
        }
    }

    /// Runs `redis-cli -e` against this server's TCP port and returns its output, trimmed.
    private func redisCLI(arguments: [String], timeout: Duration) throws -> String {
        let executable = try Executables.redisCLI()
        var environment = ProcessInfo.processInfo.environment
        environment["REDISCLI_AUTH"] = options.password
        let base = dataDirectory + "/cli-" + UUID().uuidString
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let command = arguments.first ?? "(none)"
        let child = try ChildProcess.spawn(
            executable: executable,
            arguments: ["-h", host, "-p", String(port), "-e"] + arguments,
            environment: environment,
            outputPath: base + ".out",
            errorPath: base + ".err"
        )
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var termination = child.reapIfEnded()
        while termination == nil {
            if ContinuousClock.now >= deadline {
                child.send(SIGKILL)
                _ = child.reapBlocking()
                throw RedisServerError(code: .timedOut, message: "redis-cli \(command) ran longer than \(timeout)")
            }
            usleep(1000)
            termination = child.reapIfEnded()
        }
        let output = Self.read(base + ".out")
        guard termination == .exited(0) else {
            let detail = [Self.read(base + ".err"), output].filter { !$0.isEmpty }.joined(separator: "\n")
            throw RedisServerError(
                code: .commandFailed,
                message: "redis-cli \(command) \(termination.map(String.init(describing:)) ?? ""): \(detail)"
            )
        }
        return output
    }

    private static func read(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
