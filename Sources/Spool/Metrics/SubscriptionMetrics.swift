import CoreMetrics
import Metrics

/// The metric objects of one (queue, group), created once. Dimensions are queue, group, type
/// and status only — never a job id. Job types without a handler share the type `other`, so
/// input cannot grow the number of series.
final class SubscriptionMetrics: Sendable {
    /// Per job type: processed counters by status, and the timers.
    struct TypeMetrics: Sendable {
        let succeeded: Counter
        let retried: Counter
        let dead: Counter
        let duplicate: Counter
        let duration: Timer
        let queued: Timer
    }

    let reclaimed: Counter
    let inflight: Gauge
    let length: Gauge
    let pending: Gauge
    let lagEntries: Gauge
    let lagSeconds: Gauge
    let deadLetters: Gauge
    let scheduled: Gauge
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
                duplicate: processed("duplicate"),
                duration: Timer(label: "spool.job.duration", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory),
                queued: Timer(label: "spool.job.queued.duration", dimensions: dimensions, preferredDisplayUnit: .milliseconds, factory: factory)
            )
        }
        var byType: [String: TypeMetrics] = [:]
        for type in types { byType[type] = typeMetrics(type) }
        self.byType = byType
        self.other = typeMetrics("other")
        reclaimed = Counter(label: "spool.jobs.processed", dimensions: base + [("status", "reclaimed")], factory: factory)
        inflight = Gauge(label: "spool.worker.inflight", dimensions: base, factory: factory)
        length = Gauge(label: "spool.queue.length", dimensions: base, factory: factory)
        pending = Gauge(label: "spool.queue.pending", dimensions: base, factory: factory)
        lagEntries = Gauge(label: "spool.queue.lag.entries", dimensions: base, factory: factory)
        lagSeconds = Gauge(label: "spool.queue.lag.seconds", dimensions: base, factory: factory)
        deadLetters = Gauge(label: "spool.queue.dead", dimensions: base, factory: factory)
        scheduled = Gauge(label: "spool.queue.scheduled", dimensions: base, factory: factory)
    }

    /// The metrics of a job type (`other` for types without their own handler).
    func type(_ name: String?) -> TypeMetrics {
        name.flatMap { byType[$0] } ?? other
    }

    /// Records a queue status read from Redis.
    func record(_ status: GroupStatus, length: Int) {
        self.length.record(length)
        pending.record(status.pending)
        lagEntries.record(status.lag ?? 0)
        lagSeconds.record(status.lagSeconds)
        deadLetters.record(status.deadLetters)
        scheduled.record(status.scheduledRetries)
    }
}
