import CoreMetrics
import Logging
import SpoolRedis
import Tracing

/// Runs one (queue, group) subscription: a fetch loop with its handlers, an acknowledgement
/// flusher and a keeper (heartbeat, leases, promotion, trimming).
struct SubscriptionRunner: Sendable {
    let client: RedisClient
    let keys: QueueKeys
    let group: GroupName
    let subscription: Subscription
    let configuration: SpoolWorker.Configuration
    let logger: Logger
    let state: SubscriptionState
    let metrics: SubscriptionMetrics
    let tracer: (any Tracer)?
    /// Where the subscription's tasks run (``SpoolWorker/Configuration/dedicatedThread``);
    /// `nil` for the shared pool. Child tasks inherit it; unstructured ones are given it.
    let executor: (any TaskExecutor)?

    let retryStream: String
    let scheduled: String
    let dead: String
    let done: String
    let heartbeat: String
    /// How long a running job's lease is extended: its handler's timeout (the longest of the
    /// subscription's) plus a heartbeat TTL.
    let leaseLength: Duration
    var consumer: String { configuration.consumerName }
    var options: SpoolWorker.SubscriptionOptions { subscription.options }

    init(
        client: RedisClient, keys: QueueKeys, group: GroupName, subscription: Subscription,
        configuration: SpoolWorker.Configuration, logger: Logger, metricsFactory: any MetricsFactory,
        tracer: (any Tracer)? = nil, executor: (any TaskExecutor)? = nil
    ) {
        self.tracer = tracer
        self.executor = executor
        self.client = client
        self.keys = keys
        self.group = group
        self.subscription = subscription
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "spool.queue"] = "\(keys.queue)"
        logger[metadataKey: "spool.group"] = "\(group)"
        self.logger = logger
        self.metrics = SubscriptionMetrics(
            queue: keys.queue, group: group, types: Array(subscription.handlers.keys), factory: metricsFactory
        )
        self.state = SubscriptionState(
            concurrency: subscription.options.concurrency, prefetch: subscription.options.prefetch, handlerGauge: metrics.inflight
        )
        self.retryStream = keys.retry(group)
        self.scheduled = keys.scheduled(group)
        self.dead = keys.dead(group)
        self.done = keys.done(group)
        self.heartbeat = keys.heartbeat(group, consumer: configuration.consumerName)
        self.leaseLength = subscription.longestHandlerTimeout + configuration.heartbeatTTL
    }

    /// Stops fetching; running handlers get the grace period.
    func beginShutdown() {
        state.beginStop()
    }

    /// - Throws: ``SpoolError`` (code `redis`) when starting fails: the heartbeat, the groups
    ///   or the hand-over of an earlier run's jobs.
    func run() async throws(SpoolError) {
        do {
            try await sendHeartbeat()
            try await createGroups()
            try await handOverPreviousRun()
        } catch {
            throw SpoolError.redis(error, doing: "start the worker on queue \(keys.queue) group \(group)")
        }
        logger.info("worker subscribed", metadata: [
            "spool.worker": "\(consumer)", "spool.concurrency": "\(options.concurrency)", "spool.prefetch": "\(options.prefetch)",
            "spool.dedicated_thread": "\(executor != nil)",
        ])
        let shutDownUnder = await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await keep() }
            tasks.addTask { await flushAcknowledgements() }
            // A cancelled worker stops as a shut-down one does: the fetch loop stops waiting for
            // slots, and a job Redis refuses to take back is left pending after a few tries
            // (``runFailScript``) instead of holding its slot, and the worker, forever.
            let shutDownUnder = await withTaskCancellationHandler {
                await fetchAndRun()
            } onCancel: {
                state.beginStop()
            }
            state.finish()
            await tasks.waitForAll()
            return shutDownUnder
        }
        _ = try? await client.send("DEL", heartbeat)
        logger.info("worker stopped", metadata: ["spool.worker": "\(consumer)"])
        if let shutDownUnder {
            // returning would look like a graceful shutdown to a caller that never asked for one
            throw SpoolError(
                code: .shutdown,
                message: "the RedisClient was shut down while the worker ran on queue \(keys.queue) group \(group), so it stopped: "
                    + "shut the client down after the worker's run() has returned",
                underlying: shutDownUnder
            )
        }
    }

    /// Creates the group on the main stream (at `$`, or `0` to start from the beginning)
    /// and on the group's retry stream; an existing group is kept as it is.
    func createGroups(mainStart: String? = nil) async throws {
        let start = mainStart ?? (options.startFromBeginning ? "0" : "$")
        let replies = try await client.pipeline([
            RedisCommand("SADD", keys.registry, keys.queue.rawValue),
            RedisCommand("XGROUP", "CREATE", keys.stream, group.rawValue, start, "MKSTREAM"),
            RedisCommand("XGROUP", "CREATE", retryStream, group.rawValue, "0", "MKSTREAM"),
        ])
        for reply in replies {
            if let text = reply.errorMessage, !text.hasPrefix("BUSYGROUP") {
                throw RedisError.reply(text, address: client.redactedAddress)
            }
        }
    }

    /// Moves what an earlier run under this consumer name left pending (a worker restarted
    /// with a fixed ``SpoolWorker/Configuration/consumerName``) to the consumer
    /// `<name>~previous`, which never has a heartbeat, so the fetch loop's first reclaim takes
    /// it back like a dead worker's jobs.
    ///
    /// Why not run them at once: a worker never reclaims its own entries (a live worker's own
    /// are running), so left under its name they would wait for another worker's
    /// visibility-timeout backstop, or forever with no other worker. Reclaimed, each counts a
    /// delivery (`XCLAIM … JUSTID` here does not), so a job that crashes its worker is run
    /// alone and dead-lettered past its attempts rather than crashing every restart.
    ///
    /// A group that vanished since ``createGroups(mainStart:)`` (destroyed, or the stream
    /// deleted or replaced by a key of another type) holds nothing to hand over: that stream
    /// is skipped, and the fetch loop handles it as at any other time (it recreates the group
    /// when a read meets `NOGROUP`, and retries with backoff while it meets `WRONGTYPE`).
    func handOverPreviousRun() async throws {
        let previous = consumer + "~previous"
        let page = 1000
        for stream in [keys.stream, retryStream] {
            do {
                while true {
                    let pending = try await client.send(
                        RedisCommand("XPENDING", stream, group.rawValue, "-", "+", String(page), consumer)
                    ).array ?? []
                    let ids = pending.compactMap { $0.array?.first?.string }
                    if ids.isEmpty { break }
                    var claim = RedisCommand("XCLAIM", stream, group.rawValue, previous, "0")
                    for id in ids { claim.append(id) }
                    claim.append("JUSTID")
                    let moved = try await client.send(claim).array?.count ?? 0
                    logger.notice("jobs an earlier run under this worker's name left pending are reclaimed like a dead worker's",
                                  metadata: ["spool.worker": "\(consumer)", "spool.count": "\(moved)"])
                    // (an entry deleted meanwhile is dropped from the pending list, not moved)
                    if ids.count < page || moved == 0 { break }
                }
            } catch let error as RedisError where error.message.hasPrefix("NOGROUP") || error.message.hasPrefix("WRONGTYPE") {
                continue
            }
        }
    }

    /// Recreates a group that vanished (destroyed, or Redis lost its data) at the beginning
    /// of the stream, never at `$`, so no job is skipped; completed ones are deduplicated.
    func recreateMissingGroup() async {
        logger.notice("consumer group was missing; recreating it at the start of the stream so no job is skipped")
        do {
            try await createGroups(mainStart: "0")
        } catch {
            // the fetch loop meets NOGROUP again and comes back here: until this succeeds,
            // the worker processes nothing
            logger.warning("recreating the consumer group failed; no job is processed until it succeeds",
                           metadata: ["error": "\(error)"])
        }
    }

    func sendHeartbeat() async throws {
        _ = try await client.send(RedisCommand("SET", heartbeat, "1", "PX", String(configuration.heartbeatTTL.milliseconds)))
    }
}
