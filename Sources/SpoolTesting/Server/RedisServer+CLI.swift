#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

extension RedisServer {
    /// Runs `redis-cli` against this server and returns its standard output, trimmed.
    ///
    /// For example `try server.cli("GET", "k")` returns `"v"`. See ``cli(arguments:timeout:)``.
    public func cli(_ arguments: String...) throws -> String {
        try cli(arguments: arguments)
    }

    /// Runs `redis-cli -e` against this server's TCP port and returns its output, trimmed.
    ///
    /// The password, if any, travels in the `REDISCLI_AUTH` environment variable, never
    /// on a command line. Output is raw (`redis-cli` is not on a terminal): one line per
    /// reply element, an empty string for nil.
    /// - Parameters:
    ///   - arguments: The command and its arguments.
    ///   - timeout: How long `redis-cli` may run before it is killed. Defaults to 10 seconds.
    /// - Throws: `RedisServerError` `.commandFailed` for an error reply or a failed
    ///   connection, `.timedOut` (for example, against a paused server).
    public func cli(arguments: [String], timeout: Duration = .seconds(10)) throws -> String {
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
