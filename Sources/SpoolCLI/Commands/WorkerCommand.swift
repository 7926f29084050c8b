import ArgumentParser
import AsyncHTTPClient
import NIOCore
import Foundation
import CoreMetrics
import Logging
import Prometheus
import ServiceLifecycle
import Spool
import SpoolRedis

/// `spool worker`: runs exec or http handlers for (queue, group) subscriptions.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run handlers (a program or an HTTP endpoint) for jobs of one or more queues.",
        discussion: """
            spool worker --queue emails --exec ./send-email.sh --fast
            spool worker --queue hooks --http https://example.com/hooks
            spool worker --config spool.yml

            --exec takes the rest of the command line as the program and its arguments, so put it last. \
            The program gets the payload on stdin and SPOOL_JOB_ID, SPOOL_QUEUE, SPOOL_GROUP, SPOOL_JOB_TYPE, \
            SPOOL_ATTEMPT, SPOOL_MAX_ATTEMPTS, SPOOL_ENQUEUED_AT (and TRACEPARENT, TRACESTATE) in its environment; exit 0 = done, \
            65 = permanent failure (dead letter), anything else = retry. SIGTERM/SIGINT shut down gracefully; \
            a second signal (1 s or more after the first) exits at once, leaving unfinished jobs pending. See docs/worker.md.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("A YAML file listing subscriptions and settings (see docs/worker.md).", valueName: "path"))
    var config: String?

    // (arrays, so that a second --queue is an error rather than silently replacing the first)
    @Option(name: .customLong("queue"), parsing: .unconditionalSingleValue, help: ArgumentHelp("The queue to serve (without --config).", valueName: "queue"))
    var queues: [String] = []

    @Option(parsing: .unconditional, help: "The group (subscriber) to serve it as. Defaults to `default`.")
    var group: String?

    @Option(help: ArgumentHelp("POST each job to this http(s) URL.", valueName: "url"))
    var http: String?

    @Option(parsing: .unconditional, help: "Handlers running at once per subscription. Defaults to 16.")
    var concurrency: Int?

    @Option(parsing: .unconditional, help: "Attempts before a failing job is dead-lettered. Defaults to 5.")
    var maxAttempts: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("First retry backoff (doubles each attempt, full jitter). Defaults to 1s.", valueName: "duration"))
    var backoffBase: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Longest retry backoff. Defaults to 5m.", valueName: "duration"))
    var backoffMax: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("A handler running longer is killed and the attempt fails. Defaults to 5m.", valueName: "duration"))
    var handlerTimeout: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Backstop for a live but hung worker: its job is taken over after this. Defaults to 5m.", valueName: "duration"))
    var visibilityTimeout: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("How long a graceful shutdown lets running handlers finish. Defaults to 30s.", valueName: "duration"))
    var gracePeriod: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("A worker silent this long is dead and its jobs are reclaimed (once its heartbeat was seen gone for a heartbeat interval plus the reconnect backoff and connect timeout: 8s more at the default --timeout, docs/semantics.md). Defaults to 5s.", valueName: "duration"))
    var heartbeatTTL: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Largest payload a job may have; a larger one is dead-lettered. Defaults to 524288 (512 KiB), the producers' default.",
        valueName: "bytes"
    ))
    var maxPayloadBytes: Int?

    @Option(help: "Where a new group starts: beginning (every job in the stream) or new (jobs enqueued from now). Defaults to beginning.")
    var startFrom: StartFrom?

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Jobs read ahead of the free handler slots and held, unstarted, for the next ones (0...1000): faster for short jobs, less fair between workers (docs/operations.md). Defaults to 0.",
        valueName: "jobs"
    ))
    var prefetch: Int?

    @Flag(help: "Run the worker on a thread of its own, for many short jobs; its handlers then share that thread (docs/operations.md).")
    var dedicatedThread = false

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "With --dedicated-thread: how long its thread polls for Redis's replies before it sleeps (0...10000; 0 turns it off, for a CPU quota below a core). Defaults to 100.",
        valueName: "microseconds"
    ))
    var busyPollUs: Int?

    @Flag(help: "Let the http handler reach loopback, link-local and private addresses.")
    var allowPrivateNetwork = false

    @Flag(help: "Development mode: same as --allow-private-network.")
    var dev = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this port (0: any free port).", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("The address the metrics endpoint binds. Defaults to 127.0.0.1.", valueName: "host"))
    var metricsHost: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("/readyz answers 503 while a subscription lags more than this. Defaults to 60s.", valueName: "duration"))
    var maxLag: DurationArgument?

    @Option(help: "Log format on stderr: text or json.")
    var logFormat: LogFormat = .text

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(parsing: .remaining, help: ArgumentHelp("Run this program (and arguments) for each job; must come last.", valueName: "program"))
    var exec: [String] = []

    enum StartFrom: String, ExpressibleByArgument, CaseIterable {
        case beginning, new
    }

    /// The settings from the flags, over the config file when one is given.
    func settings() throws -> WorkerSettings {
        let flagTuning = SubscriptionTuning(
            concurrency: concurrency, maxAttempts: maxAttempts, backoffBase: backoffBase?.duration,
            backoffMax: backoffMax?.duration, handlerTimeout: handlerTimeout?.duration,
            startFromBeginning: startFrom.map { $0 == .beginning }, prefetch: prefetch
        )
        // a flag's value out of range is a usage error (exit 64, as `spool --help` says)
        try Self.asUsageError { try flagTuning.validate("flags") }
        if let busyPollUs { try Self.asUsageError { try WorkerSettings.checkBusyPoll(microseconds: busyPollUs) } }
        var settings: WorkerSettings
        if let config {
            if !queues.isEmpty || group != nil || http != nil || !exec.isEmpty {
                throw CLIError("--config lists its own subscriptions: drop --queue, --group, --exec and --http", exitCode: 64)
            }
            let file = try WorkerConfigFile.load(path: config)
            settings = file.settings
            for index in settings.subscriptions.indices {
                settings.subscriptions[index].tuning = settings.subscriptions[index].tuning.over(flagTuning.over(file.defaults))
            }
        } else {
            settings = WorkerSettings()
            guard let queue = queues.first else {
                throw CLIError("pass --queue Q with --exec PROGRAM or --http URL, or --config spool.yml", exitCode: 64)
            }
            guard queues.count == 1 else {
                throw CLIError("--queue was given \(queues.count) times: one worker serves one queue from flags; list several in --config spool.yml (docs/worker.md)", exitCode: 64)
            }
            let handler: HandlerSpec
            switch (exec.isEmpty, http) {
            case (false, nil): handler = .exec(exec)
            case (true, let url?): handler = .http(url)
            default: throw CLIError("give exactly one handler: --exec PROGRAM [ARG...] or --http URL", exitCode: 64)
            }
            settings.subscriptions = [SubscriptionSpec(
                queue: try QueueName(queue), group: try group.map { try GroupName($0) } ?? .default,
                handler: handler, tuning: flagTuning
            )]
        }
        if let visibilityTimeout { settings.visibilityTimeout = visibilityTimeout.duration }
        if let gracePeriod { settings.gracePeriod = gracePeriod.duration }
        if let heartbeatTTL { settings.heartbeatTTL = heartbeatTTL.duration }
        if let maxPayloadBytes { settings.maxPayloadBytes = maxPayloadBytes }
        if allowPrivateNetwork || dev { settings.allowPrivateNetwork = true }
        if let metricsPort { settings.metricsPort = metricsPort }
        if let metricsHost { settings.metricsHost = metricsHost }
        if let maxLag { settings.maxLag = maxLag.duration }
        if dedicatedThread { settings.dedicatedThread = true }
        if let busyPollUs { settings.busyPollMicroseconds = busyPollUs }
        // without --config every value came from a flag: a usage error; a config file's stays 1
        if config == nil {
            try Self.asUsageError { try settings.validate() }
        } else {
            try settings.validate()
        }
        return settings
    }

    /// Runs `body`, its ``CLIError`` turned into a usage error (exit 64).
    private static func asUsageError(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch var error as CLIError {
            error.exitCode = 64
            throw error
        }
    }

    func validate() throws {
        try OptionValue.refuseOptionName(group, for: "--group")
        try OptionValue.refuseOptionName(config, for: "--config")
        for queue in queues { try OptionValue.refuseOptionName(queue, for: "--queue") }
    }

    func run() async throws {
        // first of all, so that a signal during startup ends the worker with status 0 too
        let signals = await WorkerSignals.trap()
        let settings = try settings()
        // exec programs need file descriptors: raise the soft limit, refuse what cannot fit
        try FileLimit.prepare(execSlots: settings.subscriptions.reduce(0) { total, spec in
            guard case .exec = spec.handler else { return total }
            return total + (spec.tuning.over(.builtIn).concurrency ?? 0)
        })
        let format = logFormat
        let level = logLevel
        // every stderr line from here on goes through one writer thread (docs/worker.md, "Logs")
        StandardError.startWriter { dropped in
            let line = StderrLogHandler.line(
                format: format, level: .warning, label: "spool.worker",
                message: "dropped \(Formatting.counted(dropped, "line")) of output: stderr was not read fast enough",
                metadata: [("spool.output.dropped", "\(dropped)")]
            )
            return Array((line + "\n").utf8)
        }
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format, logLevel: level) }
        let logger = Logger(label: "spool.worker")
        try await signals.handling(logger: logger, format: format) {
            try await start(settings, signals: signals, logger: logger)
        }
    }

    /// Builds the handlers, connects, and serves until a signal's shutdown is over.
    private func start(_ settings: WorkerSettings, signals: WorkerSignals, logger: Logger) async throws {
        var logger = logger
        let format = logFormat

        // Build every handler first: a missing program or a bad URL fails before connecting.
        let policy = NetworkPolicy(allowPrivateNetwork: settings.allowPrivateNetwork)
        let needsHTTP = settings.subscriptions.contains { if case .http = $0.handler { true } else { false } }
        var httpConfiguration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        httpConfiguration.timeout = .init(connect: .seconds(10))
        let httpClient = needsHTTP ? HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration) : nil
        var handlers: [(SubscriptionSpec, SpoolWorker.Handler, String)] = []
        do {
            for spec in settings.subscriptions {
                switch spec.handler {
                case .exec(let argv):
                    let handler = try ExecHandler(argv: argv, logFormat: format)
                    handlers.append((spec, handler.run, "exec \(handler.executable)"))
                case .http(let text):
                    let url = try HTTPHandler.parse(text)
                    if let host = url.host, let range = policy.deniedAtStart(host: host) {
                        throw CLIError("http handler \(RedisURL.redact(text)): \(host) is in a range the worker refuses "
                            + "(\(range)), so every job would be dead-lettered: pass --allow-private-network (allow_private_network: "
                            + "true in a --config file) to allow it")
                    }
                    let handler = HTTPHandler(
                        url: url, client: httpClient!, policy: policy,
                        timeout: spec.tuning.over(.builtIn).handlerTimeout!
                    )
                    handlers.append((spec, handler.run, "http \(RedisURL.redact(text))"))
                }
            }
        } catch {
            try? await httpClient?.shutdown()
            throw error
        }

        let redisConfiguration = try connection.configuration()
        let client = RedisClient(configuration: redisConfiguration)
        logger[metadataKey: "redis.url"] = "\(client.redactedAddress)"
        do {
            _ = try await client.send(RedisCommand("PING"))
        } catch {
            client.shutdown()
            try? await httpClient?.shutdown()
            throw error
        }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var metricsFactory: any MetricsFactory = MetricsSystem.factory
        var healthClient: RedisClient?
        if let port = settings.metricsPort {
            let endpoint: (MetricsServer, any MetricsFactory, RedisClient)
            do {
                endpoint = try await Self.metricsEndpoint(settings, port: port, redis: redisConfiguration, logger: logger)
            } catch {
                client.shutdown()
                try? await httpClient?.shutdown()
                throw error
            }
            services.append(.init(service: endpoint.0))
            metricsFactory = endpoint.1
            healthClient = endpoint.2
        }
        defer { healthClient?.shutdown() }

        var configuration = settings.configuration
        configuration.prefix = connection.keyPrefix
        var worker = SpoolWorker(
            client: client, configuration: configuration, logger: logger, metricsFactory: metricsFactory
        )
        for (spec, handler, description) in handlers {
            worker.subscribe(queue: spec.queue, group: spec.group, options: spec.tuning.options)
            worker.registerFallback(queue: spec.queue, group: spec.group, handler: handler)
            logger.info("serving queue", metadata: [
                "spool.queue": "\(spec.queue)", "spool.group": "\(spec.group)", "spool.handler": "\(description)",
            ])
        }
        if settings.subscriptions.contains(where: { if case .exec = $0.handler { true } else { false } }),
            let warning = Trampoline.warning {
            logger.warning("\(warning)")
        }
        // services stop in reverse order: the worker drains first, the metrics endpoint answers until then
        services.append(.init(service: worker))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        do {
            try await signals.serve(group, logger: logger)
        } catch {
            client.shutdown()
            try? await httpClient?.shutdown()
            throw error
        }
        client.shutdown()
        try? await httpClient?.shutdown()
    }

    /// Binds the metrics endpoint; returns it with the metrics factory the worker records into
    /// and the client that answers `/healthz` (its own, so a busy pool cannot delay the PING).
    static func metricsEndpoint(
        _ settings: WorkerSettings, port: Int, redis: RedisConfiguration, logger: Logger
    ) async throws -> (MetricsServer, any MetricsFactory, RedisClient) {
        let registry = PrometheusCollectorRegistry()
        let lag = LagWatch()
        let factory = LagWatchingFactory(inner: PrometheusNames.factory(registry: registry), watch: lag)
        var healthConfiguration = redis
        healthConfiguration.poolSize = 1
        healthConfiguration.connectTimeout = .seconds(1)
        healthConfiguration.commandTimeout = .seconds(1)
        let healthClient = RedisClient(configuration: healthConfiguration)
        let routes = MetricsRoutes(
            registry: registry, lag: lag, subscriptions: settings.subscriptions.map { ($0.queue, $0.group) },
            maxLag: settings.maxLag, pingRedis: { await MetricsRoutes.ping(healthClient) }
        )
        let server: MetricsServer
        do {
            server = try await MetricsServer.bind(host: settings.metricsHost, port: port, routes: routes, logger: logger)
        } catch {
            healthClient.shutdown()
            throw CLIError("cannot serve metrics on \(Self.hostPort(settings.metricsHost, port)): " + Self.bindFailure(error, port: port))
        }
        logger.info("serving /metrics, /healthz and /readyz", metadata: [
            "spool.metrics.address": "\(Self.hostPort(settings.metricsHost, server.localAddress?.port ?? port))",
        ])
        return (server, factory, healthClient)
    }

    /// `host:port`, with an IPv6 address in brackets (`[::1]:9090`).
    static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why the metrics listener could not bind, and what to do, in words rather than SwiftNIO's
    /// (`bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`).
    private static func bindFailure(_ error: any Error, port: Int) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case EADDRINUSE:
                return "the port is in use: choose another --metrics-port (metrics_port in a config file; 0 picks a free one), "
                    + "or stop the process that holds it"
            case EADDRNOTAVAIL:
                return "no interface of this machine has that address: give one of its addresses as --metrics-host "
                    + "(metrics_host in a config file), or 0.0.0.0 for all"
            case EACCES where port < 1024:
                return "permission denied: a port below net.ipv4.ip_unprivileged_port_start (1024 by default) needs "
                    + "CAP_NET_BIND_SERVICE: choose a higher --metrics-port (metrics_port in a config file)"
            default:
                return String(cString: strerror(error.errnoCode)) + " (errno \(error.errnoCode)): check --metrics-host and --metrics-port"
            }
        }
        // (NIO's lookup failure is a struct nested in SocketAddressError, not one of its cases)
        if error is SocketAddressError.UnknownHost || error is SocketAddressError {
            return "the host name does not resolve: give --metrics-host as an address (127.0.0.1, 0.0.0.0, ::1) or a name this machine resolves"
        }
        return "\(error)"
    }
}
