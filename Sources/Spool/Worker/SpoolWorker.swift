import CoreMetrics
import Logging
import Metrics
import ServiceLifecycle
import SpoolRedis
import Tracing

/// Runs job handlers for (queue, group) subscriptions: at-least-once delivery through Redis
/// consumer groups, retries with backoff, dead letters, dedup and crash recovery.
///
/// ```swift
/// var worker = SpoolWorker(client: client, logger: logger)
/// worker.register(SendEmail.self, queue: try QueueName("emails")) { job, context in
///     try await mailer.send(to: job.to)
/// }
/// // a swift-service-lifecycle Service: run in a ServiceGroup, it stops gracefully on SIGTERM
/// // (`worker.run()` alone installs no signal handler)
/// let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
public struct SpoolWorker: Service, Sendable {
    /// A handler of raw envelopes.
    ///
    /// `nonisolated(nonsending)`: a closure written in place runs on the job's own task and
    /// executor (a worker's own thread, or the shared pool), with no executor switch on entry.
    /// Any async closure or function converts to it: one isolated to an actor (`@MainActor`)
    /// still runs there, and a plain `async` function passed by name still pays an executor
    /// switch on entry, though it runs on the same executor (mark it `nonisolated(nonsending)`
    /// to save that switch).
    public typealias Handler = nonisolated(nonsending) @Sendable (JobEnvelope, JobContext) async throws -> Void

    let client: RedisClient
    let configuration: Configuration
    let logger: Logger
    let metricsFactory: any MetricsFactory
    /// `nil` when tracing is off (the no-op tracer).
    let tracer: (any Tracer)?
    private(set) var subscriptions: [SubscriptionKey: Subscription] = [:]
    private var order: [SubscriptionKey] = []

    /// Creates a worker with no subscriptions.
    ///
    /// - Parameters:
    ///   - metricsFactory: where counters, timers and gauges go. Defaults to the
    ///     process-wide `MetricsSystem.factory` (a no-op until the app bootstraps one).
    ///   - tracer: with a tracer, each handler runs in a `spool.process <type>` consumer span,
    ///     the child of the job's `traceparent`, and ``JobContext/traceparent`` names that span.
    ///     Defaults to `InstrumentationSystem.tracer` (a no-op until the app bootstraps one).
    public init(
        client: RedisClient, configuration: Configuration = Configuration(), logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        tracer: any Tracer = InstrumentationSystem.tracer
    ) {
        self.tracer = TraceHeaders.active(tracer)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    /// Subscribes `group` to `queue` with options (subscribing happens implicitly on register).
    ///
    /// The subscription needs a handler or a fallback registered for the same queue and group:
    /// ``run()`` throws (code `invalidArgument`) for one that has neither.
    public mutating func subscribe(queue: QueueName, group: GroupName = .default, options: SubscriptionOptions) {
        updateSubscription(queue, group) { $0.options = options }
    }

    /// Registers a handler for a `JobParameters` type on a queue and group.
    ///
    /// A job type has one handler per queue and group: registering another for the same
    /// `J.jobName`, queue and group makes ``run()`` throw (code `invalidArgument`).
    public mutating func register<J: JobParameters>(
        _ type: J.Type,
        queue: QueueName,
        group: GroupName = .default,
        retry: RetryStrategy? = nil,
        timeout: Duration? = nil,
        handler: nonisolated(nonsending) @escaping @Sendable (J, JobContext) async throws -> Void
    ) {
        register(type: J.jobName, queue: queue, group: group, retry: retry, timeout: timeout) { envelope, context in
            let parameters: J
            do throws(SpoolError) {
                parameters = try envelope.decodePayload(as: J.self)
            } catch {
                throw NonRetryableError(error, message: error.message)
            }
            try await handler(parameters, context)
        }
    }

    /// Registers a handler of raw envelopes for a job type name.
    ///
    /// A job type has one handler per queue and group: registering another for the same
    /// `type`, queue and group (typed or raw) makes ``run()`` throw (code `invalidArgument`).
    public mutating func register(
        type: String,
        queue: QueueName,
        group: GroupName = .default,
        retry: RetryStrategy? = nil,
        timeout: Duration? = nil,
        handler: @escaping Handler
    ) {
        updateSubscription(queue, group) {
            if $0.handlers[type] != nil { $0.registeredTwice.append("job type \(SpoolError.quoted(type))") }
            $0.handlers[type] = RegisteredHandler(run: handler, retry: retry, timeout: timeout)
        }
    }

    /// Registers a handler for every job type without a handler of its own (e.g. the `spool`
    /// binary's exec and http handlers). A second fallback for the same queue and group makes
    /// ``run()`` throw (code `invalidArgument`).
    public mutating func registerFallback(
        queue: QueueName,
        group: GroupName = .default,
        retry: RetryStrategy? = nil,
        timeout: Duration? = nil,
        handler: @escaping Handler
    ) {
        updateSubscription(queue, group) {
            if $0.fallback != nil { $0.registeredTwice.append("the fallback") }
            $0.fallback = RegisteredHandler(run: handler, retry: retry, timeout: timeout)
        }
    }

    /// Creates the (queue, group) subscription on first use, keeping registration order.
    private mutating func updateSubscription(_ queue: QueueName, _ group: GroupName, _ change: (inout Subscription) -> Void) {
        let key = SubscriptionKey(queue: queue, group: group)
        if subscriptions[key] == nil {
            order.append(key)
            subscriptions[key] = Subscription(options: SubscriptionOptions())
        }
        change(&subscriptions[key]!)
    }

    /// The consumer name this worker uses in Redis.
    public var name: String { configuration.consumerName }

    /// Runs until graceful shutdown (swift-service-lifecycle) or cancellation.
    ///
    /// On graceful shutdown it stops fetching, lets running handlers finish within
    /// ``Configuration/gracePeriod``, hands the jobs it then cancels back to their groups (as
    /// the same attempt, due at once: docs/semantics.md, "Graceful shutdown") and returns.
    /// Cancelling the task that runs it stops fetching and upkeep and cancels running handlers,
    /// acknowledging nothing unfinished; the jobs it cut off, and those a read brings after the
    /// cancellation, are handed back the same way. It returns once the blocking read in flight
    /// has returned (up to ``Configuration/fetchBlockTime``) and the last handler has returned;
    /// a job Redis refuses to take back is left pending after a few tries.
    ///
    /// - Throws: ``SpoolError``: code `redis` when Redis fails while a subscription starts
    ///   (unreachable, a wrong password, no permission; `underlying` holds the `RedisError`),
    ///   code `invalidArgument` when there is no handler, a subscription (from
    ///   ``subscribe(queue:group:options:)``) has neither a handler nor a fallback, a job type
    ///   (or the fallback) has two handlers registered for the same queue and group, or
    ///   ``Configuration/heartbeatTTL`` is not longer than a positive
    ///   ``Configuration/heartbeatInterval``, or a setting cannot work (a visibility timeout not
    ///   longer than the heartbeat interval, a fetch block time under 1 ms, an interval of 0 or
    ///   less, a negative grace period, a dedup window outside 1 ms to 100 years, a stream cap
    ///   under 1, a payload limit outside 1 byte to 512 MB, a concurrency under 1, a prefetch
    ///   outside 0 to 1,000, a handler timeout of 0 or less, a heartbeat TTL under 1 ms or over
    ///   100 years, a consumer name
    ///   that is empty, over 200 bytes, holds a colon or control characters, or ends in
    ///   `~previous`, a busy poll outside 0 to 10 ms, with or without a thread of its own;
    ///   the message names the field), or this worker's consumer name already
    ///   serves one of its (queue, group) pairs on the same Redis in this process (the
    ///   worker run twice at once, or its `Configuration` given to another worker); these are
    ///   checked before anything is sent to Redis. Code `shutdown` when the `RedisClient` was
    ///   shut down before it started or while it ran (not stopping), after the worker stopped.
    public func run() async throws(SpoolError) {
        if order.isEmpty {
            throw SpoolError(code: .invalidArgument, message: "the worker has no handlers: register one before run()")
        }
        // a subscription without one (e.g. a queue name misspelled in register) would
        // dead-letter every job of its queue as no_handler
        for key in order where subscriptions[key]!.handlers.isEmpty && subscriptions[key]!.fallback == nil {
            throw SpoolError(
                code: .invalidArgument,
                message: "the subscription to queue \(key.queue) group \(key.group) has no handler, so its jobs would be dead-lettered "
                    + "as no_handler: register a handler (or a fallback) for queue \(key.queue) group \(key.group) before run()"
            )
        }
        // the later registration would have replaced the earlier one: which one the app meant
        // to run is its own to say
        for key in order {
            guard let twice = subscriptions[key]!.registeredTwice.first else { continue }
            throw SpoolError(
                code: .invalidArgument,
                message: "\(twice) has two handlers registered for queue \(key.queue) group \(key.group), and only one can run: "
                    + "register one handler per job type (and one fallback) for each queue and group"
            )
        }
        // a heartbeat that lapses between beats makes other workers take this one's jobs
        guard configuration.heartbeatInterval > .zero, configuration.heartbeatTTL > configuration.heartbeatInterval else {
            throw SpoolError(
                code: .invalidArgument,
                message: "the heartbeat TTL (\(configuration.heartbeatTTL)) must be longer than the heartbeat interval "
                    + "(\(configuration.heartbeatInterval)), which must be positive, or other workers take this worker's jobs "
                    + "between its beats: set heartbeatTTL to 3 or more times heartbeatInterval"
            )
        }
        try configuration.validate()
        for key in order { try subscriptions[key]!.validate(key) }
        let serving = order.map {
            ActiveConsumers.key(
                redis: client.configuration.redactedURL, prefix: configuration.prefix, queue: $0.queue, group: $0.group,
                consumer: configuration.consumerName
            )
        }
        if let taken = ActiveConsumers.claim(serving).map({ order[$0] }) {
            throw SpoolError(
                code: .invalidArgument,
                message: "consumer \(configuration.consumerName) already serves queue \(taken.queue) group \(taken.group) in this process "
                    + "(a worker run twice at once, or one Configuration given to two workers): each would take the other's running "
                    + "jobs for an earlier run's and run them again; give each worker its own Configuration() or consumerName"
            )
        }
        defer { ActiveConsumers.release(serving) }
        var runners: [SubscriptionRunner] = []
        // On its own thread, the worker sends through a connection of its own whose I/O that
        // thread drives between the worker's tasks (a cluster: through `client`).
        let ownThread = configuration.dedicatedThread
            ? OwnThread(following: client, busyPoll: configuration.busyPoll, logger: logger) { cause in
                "the worker runs on the shared task pool: no thread of its own (Configuration.dedicatedThread) could be started (\(cause))"
            }
            : nil
        let executor = ownThread?.loop
        let loopClient = ownThread?.client
        // every task that prefers the executor has ended when the group returns
        defer { ownThread?.close(following: client) }
        for key in order {
            runners.append(SubscriptionRunner(
                client: loopClient ?? client, keys: try QueueKeys(queue: key.queue, prefix: configuration.prefix),
                group: key.group, subscription: subscriptions[key]!, configuration: configuration, logger: logger,
                metricsFactory: metricsFactory, tracer: tracer, executor: executor
            ))
        }
        do {
            try await withGracefulShutdownHandler { [runners] in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for runner in runners {
                        // its child tasks (handlers, upkeep) inherit the preference
                        group.addTask(executorPreference: executor) { try await runner.run() }
                    }
                    try await group.waitForAll()
                }
            } onGracefulShutdown: { [runners] in
                for runner in runners { runner.beginShutdown() }
            }
        } catch {
            // a runner's own errors are SpoolErrors already (kept as they are)
            throw SpoolError.redis(error, doing: "run the worker")
        }
    }
}

/// A (queue, group) pair.
struct SubscriptionKey: Hashable, Sendable {
    var queue: QueueName
    var group: GroupName
}

/// The handlers and options of one (queue, group).
struct Subscription: Sendable {
    var options: SpoolWorker.SubscriptionOptions
    var handlers: [String: RegisteredHandler] = [:]
    var fallback: RegisteredHandler?
    /// What was registered more than once ("job type \"x\"", "the fallback"): ``SpoolWorker/run()`` refuses to run.
    var registeredTwice: [String] = []

    /// The longest any handler of this subscription may run: how long a running job's lease
    /// is extended.
    var longestHandlerTimeout: Duration {
        var longest = options.handlerTimeout
        for timeout in handlers.values.compactMap(\.timeout) + [fallback?.timeout].compactMap({ $0 }) {
            longest = max(longest, timeout)
        }
        return longest
    }
}

/// One registered handler with its own overrides.
struct RegisteredHandler: Sendable {
    let run: SpoolWorker.Handler
    let retry: RetryStrategy?
    let timeout: Duration?
}
