import Spool

/// What a subscription's handler is.
enum HandlerSpec: Sendable, Equatable {
    /// Run a program: argv[0] and its arguments.
    case exec([String])
    /// POST to a URL.
    case http(String)
}

/// Per-subscription tuning; `nil` fields fall back to the level above (subscription, then
/// flags, then the config file's `defaults`, then the built-in defaults).
struct SubscriptionTuning: Sendable, Equatable {
    var concurrency: Int?
    var maxAttempts: Int?
    var backoffBase: Duration?
    var backoffMax: Duration?
    var handlerTimeout: Duration?
    var startFromBeginning: Bool?
    var prefetch: Int?

    /// The built-in defaults: 16 handlers, 5 attempts, backoff 1s doubling up to 5m, a 5 minute
    /// handler timeout, new groups start at the beginning of the stream, no jobs read ahead.
    static let builtIn = SubscriptionTuning(
        concurrency: 16, maxAttempts: 5, backoffBase: .seconds(1), backoffMax: .seconds(300),
        handlerTimeout: .seconds(300), startFromBeginning: true, prefetch: 0
    )

    /// `self` with its unset fields taken from `fallback`.
    func over(_ fallback: SubscriptionTuning) -> SubscriptionTuning {
        SubscriptionTuning(
            concurrency: concurrency ?? fallback.concurrency,
            maxAttempts: maxAttempts ?? fallback.maxAttempts,
            backoffBase: backoffBase ?? fallback.backoffBase,
            backoffMax: backoffMax ?? fallback.backoffMax,
            handlerTimeout: handlerTimeout ?? fallback.handlerTimeout,
            startFromBeginning: startFromBeginning ?? fallback.startFromBeginning,
            prefetch: prefetch ?? fallback.prefetch
        )
    }

    /// Checks ranges; `context` names where the values came from.
    func validate(_ context: String) throws {
        if let concurrency, concurrency < 1 || concurrency > 10_000 {
            throw CLIError("\(context): concurrency must be 1...10000 (got \(concurrency))")
        }
        if let maxAttempts, maxAttempts < 1 {
            throw CLIError("\(context): max attempts must be at least 1 (got \(maxAttempts))")
        }
        if let handlerTimeout, handlerTimeout <= .zero {
            throw CLIError("\(context): handler timeout must be positive")
        }
        if let prefetch, !(0...SpoolWorker.SubscriptionOptions.maxPrefetch).contains(prefetch) {
            throw CLIError("\(context): prefetch must be 0...\(SpoolWorker.SubscriptionOptions.maxPrefetch) (got \(prefetch))")
        }
    }

    /// The library's options for a fully resolved tuning.
    var options: SpoolWorker.SubscriptionOptions {
        let resolved = over(.builtIn)
        return SpoolWorker.SubscriptionOptions(
            concurrency: resolved.concurrency!,
            retry: .exponentialJitter(
                maxAttempts: resolved.maxAttempts!, baseDelay: resolved.backoffBase!, maxBackoff: resolved.backoffMax!
            ),
            handlerTimeout: resolved.handlerTimeout!,
            startFromBeginning: resolved.startFromBeginning!,
            prefetch: resolved.prefetch!
        )
    }
}

/// One (queue, group) the worker serves.
struct SubscriptionSpec: Sendable, Equatable {
    var queue: QueueName
    var group: GroupName
    var handler: HandlerSpec
    var tuning: SubscriptionTuning
}

/// Everything `spool worker` runs with, from flags and/or the config file.
struct WorkerSettings: Sendable, Equatable {
    var subscriptions: [SubscriptionSpec] = []
    /// Defaults to 5 minutes.
    var visibilityTimeout: Duration = .seconds(300)
    /// Defaults to 30 seconds.
    var gracePeriod: Duration = .seconds(30)
    /// Defaults to 5 seconds.
    var heartbeatTTL: Duration = .seconds(5)
    /// The largest payload a job may have (`SpoolWorker.Configuration.maxPayloadBytes`).
    var maxPayloadBytes: Int = JobEnvelope.defaultMaxPayloadBytes
    /// Defaults to `false`: the http handler refuses private addresses.
    var allowPrivateNetwork = false
    /// Serve `/metrics`, `/healthz` and `/readyz` on this port. Defaults to `nil` (off); 0 picks a free port.
    var metricsPort: Int?
    /// The address the metrics endpoint binds. Defaults to 127.0.0.1 (this host only).
    var metricsHost = "127.0.0.1"
    /// `/readyz` answers 503 while a subscription's lag exceeds this. Defaults to 60 seconds.
    var maxLag: Duration = .seconds(60)
    /// Run the worker's tasks on a thread of its own (`SpoolWorker.Configuration.dedicatedThread`).
    /// Defaults to `false`.
    var dedicatedThread = false
    /// With ``dedicatedThread``: microseconds its thread polls for replies before it sleeps
    /// (`SpoolWorker.Configuration.busyPoll`); `nil` keeps the library's 100.
    var busyPollMicroseconds: Int?

    /// How often the queue gauges are read: often enough that `/readyz` notices `maxLag`
    /// within about a quarter of it, between 250 ms and the library's 5 seconds.
    var metricsInterval: Duration {
        min(max(maxLag / 4, .milliseconds(250)), .seconds(5))
    }

    /// The library's worker configuration.
    var configuration: SpoolWorker.Configuration {
        var configuration = SpoolWorker.Configuration()
        configuration.visibilityTimeout = visibilityTimeout
        configuration.gracePeriod = gracePeriod
        configuration.heartbeatTTL = heartbeatTTL
        configuration.maxPayloadBytes = maxPayloadBytes
        configuration.heartbeatInterval = min(.seconds(1), heartbeatTTL / 3)
        if metricsPort != nil { configuration.metricsInterval = metricsInterval }
        configuration.dedicatedThread = dedicatedThread
        if let busyPollMicroseconds { configuration.busyPoll = .microseconds(busyPollMicroseconds) }
        return configuration
    }

    /// Refuses a busy poll the library would refuse (`SpoolWorker.Configuration.busyPoll`).
    static func checkBusyPoll(microseconds: Int) throws {
        guard (0...maxBusyPollMicroseconds).contains(microseconds) else {
            throw CLIError("busy poll must be 0...\(maxBusyPollMicroseconds) microseconds (got \(microseconds)); 0 turns it off")
        }
    }

    /// The library's longest busy poll, in microseconds.
    static var maxBusyPollMicroseconds: Int { Int(SpoolWorker.Configuration.maxBusyPoll / .microseconds(1)) }

    func validate() throws {
        guard !subscriptions.isEmpty else {
            throw CLIError("nothing to run: pass --queue Q with --exec PROGRAM or --http URL, or --config spool.yml")
        }
        if heartbeatTTL < .seconds(1) { throw CLIError("heartbeat TTL must be at least 1s") }
        if !(1...JobEnvelope.maxPayloadBytesLimit).contains(maxPayloadBytes) {
            throw CLIError("max payload bytes must be 1...\(JobEnvelope.maxPayloadBytesLimit) (Redis's largest string)")
        }
        if let metricsPort, !(0...65_535).contains(metricsPort) { throw CLIError("metrics port must be 0...65535") }
        if maxLag <= .zero { throw CLIError("max lag must be positive") }
        if visibilityTimeout < heartbeatTTL { throw CLIError("visibility timeout must be at least the heartbeat TTL") }
        if let busyPollMicroseconds {
            try Self.checkBusyPoll(microseconds: busyPollMicroseconds)
            guard dedicatedThread else {
                throw CLIError("busy poll applies to a worker with a thread of its own: add --dedicated-thread "
                    + "(dedicated_thread: true in --config), or drop --busy-poll-us (busy_poll_us)")
            }
        }
        var seen = Set<String>()
        for subscription in subscriptions {
            let key = "\(subscription.queue)/\(subscription.group)"
            guard seen.insert(key).inserted else {
                throw CLIError("queue \(subscription.queue) group \(subscription.group) is listed twice")
            }
            // checked on the resolved values: the base and the cap may come from different levels
            let resolved = subscription.tuning.over(.builtIn)
            if let base = resolved.backoffBase, let cap = resolved.backoffMax, base > cap {
                throw CLIError(
                    "queue \(subscription.queue): backoff base \(DurationArgument(base)) is above backoff max \(DurationArgument(cap)) (every retry would wait the max): lower --backoff-base or raise --backoff-max (backoff_base, backoff_max in --config)"
                )
            }
        }
    }
}
