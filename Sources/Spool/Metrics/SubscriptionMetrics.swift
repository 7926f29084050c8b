import CoreMetrics
import Metrics
import Synchronization

/// The metric objects of one (queue, group), created once. Dimensions are queue, group, type
/// and status only — never a job id. Job types without a handler share the type `other`, so
/// input cannot grow the number of series.
final class SubscriptionMetrics: Sendable {
    /// Per job type: processed counters by status, and the timers.
    /// A class: a job takes it once or twice, and copying a struct of eight metric objects
    /// retains and releases each of them (its copies showed in a profile of
    /// `queue --process-only`).
    final class TypeMetrics: Sendable {
        let succeeded: Counter
        let retried: Counter
        let dead: Counter
        let duplicate: Counter
        /// The handler threw ``HandBackError``: the job did not start and runs again.
        let handedBack: Counter
        /// The worker gave up on the job (shutdown, cancellation): it runs again.
        let abandoned: Counter
        /// Handler runs that reached an outcome (succeeded, failed, timed out); a job handed
        /// back or abandoned records none.
        let duration: Timer
        let queued: Timer

        init(
            succeeded: Counter, retried: Counter, dead: Counter, duplicate: Counter, handedBack: Counter,
            abandoned: Counter, duration: Timer, queued: Timer
        ) {
            self.succeeded = succeeded
            self.retried = retried
            self.dead = dead
            self.duplicate = duplicate
            self.handedBack = handedBack
            self.abandoned = abandoned
            self.duration = duration
            self.queued = queued
        }
    }

    /// The gauges of a queue reading.
    private struct QueueGauges: Sendable {
        let length: Gauge
        let pending: Gauge
        let lagEntries: Gauge
        let lagSeconds: Gauge
        let deadLetters: Gauge
        let scheduled: Gauge
    }

    /// Jobs taken over from dead workers or past the visibility timeout: a count of its own,
    /// not a status of `spool.jobs.processed`, since each reclaimed job also ends with one of
    /// those statuses (summed together, it would be counted twice).
    let reclaimed: Counter
    /// Entries of the queue's stream the hard cap (``SpoolWorker/Configuration/maxStreamLength``)
    /// dropped in this worker's trims: lost jobs. By queue only, as the cap applies to the
    /// stream every group reads.
    let dropped: Counter
    let inflight: Gauge
    /// Made at the first reading: a gauge exists (and is exported, at 0) from the moment it
    /// is made, and a lag of 0 before the queue was read would look like a healthy queue.
    private let queueGauges = Mutex<QueueGauges?>(nil)
    private let makeQueueGauges: @Sendable () -> QueueGauges
    private let byType: [String: TypeMetrics]
    private let other: TypeMetrics

    init(queue: QueueName, group: GroupName, types: [String], factory: any MetricsFactory) {
        let base = [("queue", queue.rawValue), ("group", group.rawValue)]
        func typeMetrics(_ type: String) -> TypeMetrics {
            let dimensions = base + [("type", type)]
            func processed(_ status: String) -> Counter {
                Counter(label: "spool.jobs.processed", dimensions: dimensions + [("status", status)], factory: factory)
            }
            return TypeMetrics(
                succeeded: processed("succeeded"), retried: processed("retried"), dead: processed("dead"),
                duplicate: processed("duplicate"), handedBack: processed("handed_back"), abandoned: processed("abandoned"),
                duration: Timer(label: "spool.job.duration", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory),
                queued: Timer(label: "spool.job.queued.duration", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
            )
        }
        var byType: [String: TypeMetrics] = [:]
        for type in types { byType[type] = typeMetrics(type) }
        self.byType = byType
        self.other = typeMetrics("other")
        reclaimed = Counter(label: "spool.jobs.reclaimed", dimensions: base, factory: factory)
        dropped = Counter(label: "spool.jobs.dropped", dimensions: [("queue", queue.rawValue)], factory: factory)
        inflight = Gauge(label: "spool.worker.inflight", dimensions: base, factory: factory)
        makeQueueGauges = {
            QueueGauges(
                length: Gauge(label: "spool.queue.length", dimensions: base, factory: factory),
                pending: Gauge(label: "spool.queue.pending", dimensions: base, factory: factory),
                lagEntries: Gauge(label: "spool.queue.lag.entries", dimensions: base, factory: factory),
                lagSeconds: Gauge(label: "spool.queue.lag.seconds", dimensions: base, factory: factory),
                deadLetters: Gauge(label: "spool.queue.dead", dimensions: base, factory: factory),
                scheduled: Gauge(label: "spool.queue.scheduled", dimensions: base, factory: factory)
            )
        }
    }

    /// The metrics of a job type (`other` for types without their own handler).
    func type(_ name: String?) -> TypeMetrics {
        name.flatMap { byType[$0] } ?? other
    }

    /// Records a queue status read from Redis. A lag Redis cannot tell (`XINFO GROUPS` gives
    /// a null lag, e.g. after an unread entry was deleted) is recorded as NaN: 0 would read as
    /// a healthy queue, and leaving the last value would repeat a stale one. NaN keeps the
    /// series (no gap that looks like a worker gone), compares false against any alert
    /// threshold, and makes a `sum` over groups NaN, unknown as the lag is.
    func record(_ status: GroupStatus, length: Int) {
        let gauges = queueGauges.withLock { gauges in
            if let gauges { return gauges }
            let made = makeQueueGauges()
            gauges = made
            return made
        }
        gauges.length.record(length)
        gauges.pending.record(status.pending)
        gauges.lagEntries.record(status.lag.map(Double.init) ?? .nan)
        gauges.lagSeconds.record(status.lagSeconds)
        gauges.deadLetters.record(status.deadLetters)
        gauges.scheduled.record(status.scheduledRetries)
    }
}
