import CoreMetrics
import Logging
import Metrics
import SpoolRedis
import Tracing

extension SpoolProducer {
    /// The default ``withDedicatedThread(client:configuration:busyPoll:logger:metricsFactory:tracer:isolation:_:)``
    /// busy poll: 250 µs. Longer than a worker's 100 µs (``SpoolWorker/Configuration/busyPoll``),
    /// whose commands are short: Redis spends about 110 µs of CPU (1.1 µs per job) on a batch
    /// push of 100 jobs before it answers, so a 100 µs poll would run out before nearly every
    /// reply and back off.
    public static var defaultBusyPoll: Duration { .microseconds(250) }

    /// Runs `body` with a producer whose pushes run on a thread of their own, for code that
    /// pushes many jobs in a row: an import, a fan-out, a backfill.
    ///
    /// ```swift
    /// try await SpoolProducer.withDedicatedThread(client: client, logger: logger) { producer in
    ///     for start in stride(from: 0, to: orders.count, by: 100) {
    ///         let chunk = orders[start..<min(start + 100, orders.count)]
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
    /// Call it from nonisolated code (a plain `async` function, a child task). A `body`
    /// isolated to an actor (say, the main actor) runs on that actor, and each push goes to
    /// the thread and back: no faster than a producer on the client.
    ///
    /// Each call starts a thread, opens a connection and registers the queues it pushes to
    /// anew: wrap a whole run of pushes, not each batch. The price is that of a worker's
    /// thread: code that blocks the thread (synchronous I/O, a lock held long) delays every
    /// push on it. The producer must not be used once `body` has returned: its connection is
    /// closed then, and a push fails (code `shutdown`). The connection goes down with `client`
    /// too.
    ///
    /// On a Redis Cluster `body` runs with `SpoolProducer(client: client, ...)`, as without
    /// this call (its nodes' connections have threads of their own), and so it does when no
    /// thread can be started, which is logged as a warning.
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
    public static func withDedicatedThread<T>(
        client: RedisClient, configuration: Configuration = Configuration(), busyPoll: Duration = defaultBusyPoll,
        logger: Logger, metricsFactory: any MetricsFactory = MetricsSystem.factory,
        tracer: any Tracer = InstrumentationSystem.tracer,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SpoolProducer) async throws -> T
    ) async throws -> T {
        if busyPoll < .zero || busyPoll > SpoolWorker.Configuration.maxBusyPoll {
            throw SpoolError(
                code: .invalidArgument,
                message: "the producer's busyPoll (\(busyPoll)) must be from 0 to 10 ms (longer only keeps a core busy while "
                    + "Redis is slow); the default is 250 µs"
            )
        }
        func producer(on client: RedisClient) -> SpoolProducer {
            SpoolProducer(client: client, configuration: configuration, logger: logger, metricsFactory: metricsFactory, tracer: tracer)
        }
        // a cluster's nodes have connections with threads of their own: no thread to start
        guard client.configuration.cluster == nil,
            let ownThread = OwnThread(following: client, busyPoll: busyPoll, logger: logger, warning: { cause in
                "the producer runs on the shared task pool: no thread of its own could be started (\(cause))"
            })
        else {
            return try await body(producer(on: client))
        }
        // every task that prefers the loop has ended when this runs (structured), and it runs
        // off the loop's thread: the function hops back to its own isolation first
        defer { ownThread.close(following: client) }
        // (a single server's client always has a follower that the loop drives)
        let onLoop = producer(on: ownThread.client ?? client)
        return try await withTaskExecutorPreference(ownThread.loop, isolation: isolation) {
            try await body(onLoop)
        }
    }
}
