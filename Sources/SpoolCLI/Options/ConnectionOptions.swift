import ArgumentParser
import SpoolRedis

#if canImport(Glibc)
import Glibc
#endif

/// Flags every command that talks to Redis shares.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Redis URL: redis://[user[:password]@]host[:port][/db] or unix:///path.sock[?db=N].",
        discussion: "Defaults to $SPOOL_REDIS_URL. The password may also come from $SPOOL_REDIS_PASSWORD.",
        valueName: "url"
    ))
    var redis: String?

    @Option(name: .long, help: ArgumentHelp("Timeout for connecting and for each command.", valueName: "duration"))
    var timeout: DurationArgument = DurationArgument(.seconds(5))

    /// The configuration from the flags and the environment.
    func configuration() throws -> RedisConfiguration {
        guard let url = redis ?? environment("SPOOL_REDIS_URL") else {
            throw ValidationError("no Redis URL: pass --redis redis://host:6379 or set SPOOL_REDIS_URL")
        }
        var configuration = try RedisConfiguration(url: url, password: environment("SPOOL_REDIS_PASSWORD"))
        configuration.connectTimeout = min(timeout.duration, .seconds(5))
        configuration.commandTimeout = timeout.duration
        configuration.clientName = "spool-cli"
        return configuration
    }

    private func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
