import CoreMetrics
import Logging
import Metrics
import SpoolRedis
import Tracing

extension SpoolProducer {
    /// The default ``withDedicatedThread(client:configuration:busyPoll:logger:metricsFactory:tracer:isolation:_:)``
    /// busy poll: 250 µs. Longer than a worker's 100 µs (``SpoolWorker/Configuration/busyPoll``),
    /// whose commands are short: Redis answers a batch push of 100 jobs in about 130 µs on
    /// loopback, so a 100 µs poll would run out before nearly every reply and back off.
    public static var defaultBusyPoll: Duration { .microseconds(250) }

    /// Runs `body` with a producer whose pushes run on a thread of their own, for code that
    /// pushes many jobs in a row: an import, a fan-out, a backfill.
    ///
    /// ```swift
    /// try await SpoolProducer.withDedicatedThread(client: client, logger: logger) { producer in
    ///     for chunk in orders.chunks(ofCount: 100) {
    ///         try await producer.push(chunk.map(ShipOrder.init), to: queue)
    ///     }
    /// }
    /// ```
    ///
    /// `body` runs with that thread as its task executor preference: the producer's pushes,
    /// and the tasks `body` starts in a task group or with `async let`, run there. The thread
    /// also drives the I/O of a connection of its own, made from the client's configuration,
    /// as a worker's ``SpoolWorker/Configuration/dedicatedThread`` does: a push is written once
    /// the ready tasks have run, and its reply resumes it on the same thread, with no
    /// connection thread and no thread of the shared pool woken in between; while Redis adds a
    /// batch, the thread polls for the reply rather than sleeps (`busyPoll`). Batches of 100
    /// from one task ran about 18% faster so, at 1.6 times the producer's CPU per job
    /// (docs/performance.md, "Stop 36").
    ///
    /// The price is that of a worker's thread: code that blocks the thread (synchronous I/O,
    /// a lock held long) delays every push on it. The producer must not be used once `body`
    /// has returned: its connection is closed then, and a push fails (code `shutdown`). The
    /// connection goes down with `client` too.
    ///
    /// On a Redis Cluster, and if no thread can be started (logged as a warning), `body` runs
    /// as without this call, with `SpoolProducer(client: client, ...)`.
    ///
    /// - Parameters:
    ///   - busyPoll: how long the thread, waiting for Redis's replies, polls its socket
    ///     without sleeping before it sleeps (``SpoolWorker/Configuration/busyPoll`` describes
    ///     the trade and its back-off); zero turns it off. 0 to
    ///     ``SpoolWorker/Configuration/maxBusyPoll``; defaults to ``defaultBusyPoll``.
    ///   - configuration, logger, metricsFactory, tracer: as for
    ///     ``init(client:configuration:logger:metricsFactory:tracer:)``.
    /// - Throws: ``SpoolError`` (code `invalidArgument`) for a busy poll out of range, before
    ///   `body` runs; else what `body` throws.
    public static func withDedicatedThread<Result>(
        client: RedisClient, configuration: Configuration = Configuration(), busyPoll: Duration = defaultBusyPoll,
        logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory,
        tracer: any Tracer = InstrumentationSystem.tracer,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SpoolProducer) async throws -> Result
    ) async throws -> Result {
        if busyPoll < .zero || busyPoll > SpoolWorker.Configuration.maxBusyPoll {
            throw SpoolError(
                code: .invalidArgument,
                message: "the producer's busyPoll (\(busyPoll)) must be from 0 to \(SpoolWorker.Configuration.maxBusyPoll) (longer "
                    + "only keeps a core busy while Redis is slow); the default is \(defaultBusyPoll)"
            )
        }
        func producer(on client: RedisClient) -> SpoolProducer {
            SpoolProducer(client: client, configuration: configuration, logger: logger, metricsFactory: metricsFactory, tracer: tracer)
        }
        let loop: ConnectionLoop
        do {
            loop = try ConnectionLoop(busyPoll: busyPoll)
        } catch {
            // the producer works as well on the shared pool, only with more thread wake-ups
            logger.warning("the producer runs on the shared task pool: no thread of its own could be started (\(error.cause))")
            return try await body(producer(on: client))
        }
        guard let loopClient = RedisClient(following: client, loop: loop) else {
            // a cluster: its nodes' connections have threads of their own
            loop.shutdown()
            return try await body(producer(on: client))
        }
        // every task that prefers the loop has ended when this returns (structured)
        defer {
            client.stopFollowing(loopClient)
            loopClient.shutdown()
            loop.shutdown()
        }
        let onLoop = producer(on: loopClient)
        return try await withTaskExecutorPreference(loop, isolation: isolation) {
            try await body(onLoop)
        }
    }
}
