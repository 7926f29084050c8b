import ArgumentParser
import Spool
import SpoolRedis

#if canImport(Glibc)
import Glibc
#endif

/// Flags every command that talks to Redis shares.
///
/// With neither `--redis` nor `SPOOL_REDIS_URL`, the command starts (or reuses) a private
/// `redis-server` under `./.spool/` (see ``PrivateRedis``), so a first run needs nothing set up.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Redis URL: redis://[user[:password]@]host[:port][/db], rediss://... (TLS), unix:///path.sock[?db=N], or redis-cluster://host:port[,host:port...] (Redis Cluster).",
        discussion: """
            Defaults to $SPOOL_REDIS_URL (refused when set but empty); without either, a private redis-server \
            is started (or reused) under ./.spool/ (health and ping only use one that runs). The password may also come from $SPOOL_REDIS_PASSWORD (refused when set but empty).
            """,
        valueName: "url"
    ))
    var redis: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Timeout for each command, for connecting (at most 5s; a host name's lookup before it, up to 10s), and for a private Redis to answer.", valueName: "duration"))
    var timeout: DurationArgument = DurationArgument(.seconds(5))

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Key prefix of the queues, as the producers and workers were configured (default: spool).",
        discussion: "Defaults to $SPOOL_PREFIX (refused when set but empty), then spool.",
        valueName: "prefix"
    ))
    var prefix: String?

    /// The key prefix: `--prefix`, else `$SPOOL_PREFIX`, else `spool`.
    var keyPrefix: String { prefix ?? Self.environment("SPOOL_PREFIX") ?? QueueKeys.defaultPrefix }

    func validate() throws {
        try OptionValue.refuseOptionName(prefix, for: "--prefix")
        // set but empty is a mistake (a secret missing or mounted empty), not "unset": read as
        // unset, an empty URL sent jobs to a private redis-server nobody else reads, and an
        // empty prefix meant other queues
        if redis == nil && Self.isSetButEmpty("SPOOL_REDIS_URL") {
            throw ValidationError("$SPOOL_REDIS_URL is set but empty: set it to a Redis URL (e.g. redis://localhost:6379), "
                + "or unset it to use a private redis-server under ./.spool/")
        }
        if prefix == nil && Self.isSetButEmpty("SPOOL_PREFIX") {
            throw ValidationError("$SPOOL_PREFIX is set but empty: set it to the producers' and workers' key prefix, or unset it for spool")
        }
        // likewise a password: read as unset, an empty one connected without AUTH
        if Self.isSetButEmpty("SPOOL_REDIS_PASSWORD") {
            throw ValidationError("$SPOOL_REDIS_PASSWORD is set but empty: set it to the Redis password, or unset it (a password in the URL, if any, is used)")
        }
        guard timeout.duration > .zero else { throw ValidationError("--timeout must be more than 0 (e.g. 500ms or 5s)") }
        do {
            _ = try QueueKeys(queue: QueueName("q"), prefix: keyPrefix)
        } catch {
            throw ValidationError("\(prefix == nil ? "$SPOOL_PREFIX" : "--prefix"): \(error.message)")
        }
    }

    /// The configuration from the flags and the environment, starting the private Redis if
    /// no URL was given.
    ///
    /// - Parameter checking: for a command that checks a Redis (`health`, `ping`): it uses
    ///   the private Redis only when that runs, and otherwise throws (exit 64). A probe whose
    ///   `SPOOL_REDIS_URL` went missing must not report a fresh, empty Redis as healthy.
    func configuration(checking command: String? = nil) throws -> RedisConfiguration {
        let url: String
        if let given = redis ?? Self.environment("SPOOL_REDIS_URL") {
            url = given
        } else {
            let privateRedis = PrivateRedis(directory: PrivateRedis.defaultDirectory())
            let refusal = command.map {
                CLIError("no Redis to check: give --redis or $SPOOL_REDIS_URL (\($0) never starts the private Redis, "
                    + "and none runs under ./.spool/: `spool redis start` starts it)", exitCode: 64)
            }
            // (checked first without the lock, which would make ./.spool/ where there is none)
            if let refusal, !privateRedis.isRunning { throw refusal }
            url = try privateRedis.startOrReuse(announce: true, wait: timeout.duration, instead: refusal)
        }
        var configuration = try RedisConfiguration(url: url, password: Self.environment("SPOOL_REDIS_PASSWORD"))
        configuration.connectTimeout = min(timeout.duration, .seconds(5))
        configuration.commandTimeout = timeout.duration
        configuration.clientName = "spool-cli"
        return configuration
    }

    /// Whether the environment variable `name` is set to the empty string.
    static func isSetButEmpty(_ name: String) -> Bool {
        getenv(name).map { $0.pointee == 0 } ?? false
    }

    /// The value of an environment variable, `nil` when unset or empty.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }
}
