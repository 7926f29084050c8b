import CoreMetrics
import Spool
import Synchronization

/// Remembers the last `spool.queue.lag.seconds` of each (queue, group) on its way to another
/// metrics factory, so `/readyz` can judge the lag without asking Redis again.
final class LagWatch: Sendable {
    static let label = "spool.queue.lag.seconds"
    /// The last lag of each (queue, group) and when it was read.
    private let latest = Mutex<[String: (seconds: Double, at: ContinuousClock.Instant)]>([:])

    static func key(queue: String, group: String) -> String { queue + "\u{0}" + group }

    func record(_ seconds: Double, key: String) {
        let now = ContinuousClock.now
        latest.withLock { $0[key] = (seconds, now) }
    }

    /// `nil` when every subscription's lag is within `maxLag`, else a one-line reason.
    ///
    /// A reading ages: unread, the lag can have grown by as much as the time since it was read
    /// (the oldest unfinished job ages one second per second). So a subscription is judged by
    /// its last lag plus the reading's age. Readings come every quarter of `--max-lag` (250 ms
    /// to 5 s), so this only bites when they stop, e.g. while Redis does not answer: then
    /// `/readyz` turns 503 within `--max-lag` instead of repeating the last good reading.
    func notReadyReason(
        subscriptions: [(queue: QueueName, group: GroupName)], maxLag: Duration, now: ContinuousClock.Instant = .now
    ) -> String? {
        let limit = maxLag.inSeconds
        let values = latest.withLock { $0 }
        for (queue, group) in subscriptions {
            guard let reading = values[Self.key(queue: queue.rawValue, group: group.rawValue)] else {
                return "queue \(queue) group \(group): lag not measured yet"
            }
            if reading.seconds > limit {
                return "queue \(queue) group \(group): lag \(Self.shown(reading.seconds))s exceeds --max-lag \(limit)s"
            }
            let age = (now - reading.at).inSeconds
            if reading.seconds + age > limit {
                return "queue \(queue) group \(group): lag \(Self.shown(reading.seconds))s was read \(Self.shown(age))s ago "
                    + "and may now exceed --max-lag \(limit)s (no newer reading: does Redis answer?)"
            }
        }
        return nil
    }

    private static func shown(_ seconds: Double) -> Double { (seconds * 10).rounded() / 10 }
}

/// A metrics factory that forwards everything to `inner` and copies lag gauges into a ``LagWatch``.
struct LagWatchingFactory: MetricsFactory {
    let inner: any MetricsFactory
    let watch: LagWatch

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        inner.makeCounter(label: label, dimensions: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        inner.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let handler = inner.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        guard label == LagWatch.label else { return handler }
        let queue = dimensions.first { $0.0 == "queue" }?.1 ?? ""
        let group = dimensions.first { $0.0 == "group" }?.1 ?? ""
        return WatchedRecorder(inner: handler, watch: watch, key: LagWatch.key(queue: queue, group: group))
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        inner.makeMeter(label: label, dimensions: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        inner.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { inner.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { inner.destroyFloatingPointCounter(handler) }
    func destroyMeter(_ handler: any MeterHandler) { inner.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { inner.destroyTimer(handler) }

    func destroyRecorder(_ handler: any RecorderHandler) {
        inner.destroyRecorder((handler as? WatchedRecorder)?.inner ?? handler)
    }
}

/// A recorder that also tells a ``LagWatch``.
final class WatchedRecorder: RecorderHandler, Sendable {
    let inner: any RecorderHandler
    let watch: LagWatch
    let key: String

    init(inner: any RecorderHandler, watch: LagWatch, key: String) {
        self.inner = inner
        self.watch = watch
        self.key = key
    }

    func record(_ value: Int64) {
        inner.record(value)
        watch.record(Double(value), key: key)
    }

    func record(_ value: Double) {
        inner.record(value)
        watch.record(value, key: key)
    }
}
