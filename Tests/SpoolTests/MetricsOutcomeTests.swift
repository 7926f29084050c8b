import CoreMetrics
import Logging
import MetricsTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the worker records per job: statuses, durations, time in the queue, log levels.
@Suite("Metrics: per-job outcomes")
struct MetricsOutcomeTests {
    static let dimensions = [("queue", "outcomes"), ("group", "default"), ("type", "greeting")]

    static func processed(_ metrics: TestMetrics, _ status: String) -> Int64 {
        metrics.counterTotal(label: "spool.jobs.processed", dimensions: dimensions + [("status", status)])
    }

    @Test("a job handed back twice, then run: handed_back 2, succeeded 1, one duration, one hand-back error line")
    func handedBack() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let log = CapturedLog()
            let queue = try QueueName("outcomes")
            let calls = Mutex(0)
            var worker = SpoolWorker(
                client: fixture.client, configuration: fixture.workerConfiguration(), logger: log.logger, metricsFactory: metrics
            )
            worker.register(Greeting.self, queue: queue) { _, _ in
                let call = calls.withLock { $0 += 1; return $0 }
                if call <= 2 { throw HandBackError("cannot start it yet", pause: .zero) }
            }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                try await fixture.producer.push(Greeting(name: "x"), to: queue)
                try await waitUntil(within: .seconds(30), "the job succeeded") { Self.processed(metrics, "succeeded") == 1 }
            }
            #expect(calls.withLock { $0 } == 3)
            #expect(Self.processed(metrics, "handed_back") == 2)
            #expect(Self.processed(metrics, "succeeded") == 1)
            #expect(Self.processed(metrics, "retried") == 0 && Self.processed(metrics, "dead") == 0)
            let durations = try metrics.expectTimer("spool.job.duration", Self.dimensions)
            #expect(durations.values.count == 1, "a duration only for the run that reached an outcome")
            // the second hand-back came within 30 s of the first: one line
            #expect(log.levels(of: "handed back unstarted") == [.error])
        }
    }

    @Test("time in the queue runs from when the entry entered the stream, not from the push: a 2 s delay is not queueing")
    func queuedAfterDelay() async throws {
        try await QueueFixture.with { fixture in
            let metrics = TestMetrics()
            let queue = try QueueName("outcomes")
            let recorder = Recorder()
            var worker = fixture.worker(metrics: metrics)
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            var pushed = ContinuousClock.now
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                pushed = ContinuousClock.now
                try await fixture.producer.push(Greeting(name: "later"), to: queue, options: PushOptions(delay: .seconds(2)))
                try await recorder.waitFor(1, within: .seconds(30))
            }
            let started = try #require(recorder.executions.first?.at)
            let sincePush = started - pushed
            #expect(sincePush >= .seconds(2), "the delay was kept")
            let queued = try metrics.expectTimer("spool.job.queued.duration", Self.dimensions)
            #expect(queued.values.count == 1)
            let nanoseconds = try #require(queued.values.first)
            // counted from the push, it would be all of the time since the push; from the
            // stream entry, the 2 s delay is not in it (no bound on how long a loaded
            // machine takes to start the job)
            #expect(.nanoseconds(nanoseconds) < sincePush - .seconds(1), "queued \(Double(nanoseconds) / 1e9) s of \(sincePush)")
        }
    }

    @Test("a failed attempt is logged at info, a dead letter at warning")
    func logLevels() async throws {
        try await QueueFixture.with { fixture in
            let log = CapturedLog()
            let queue = try QueueName("outcomes")
            var worker = SpoolWorker(client: fixture.client, configuration: fixture.workerConfiguration(), logger: log.logger)
            worker.register(Greeting.self, queue: queue, retry: .fixed(maxAttempts: 2, delay: .milliseconds(10))) { _, _ in
                throw TestFailure("broken")
            }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                try await fixture.producer.push(Greeting(name: "x"), to: queue)
                try await waitUntil(within: .seconds(30), "the job is dead-lettered") {
                    try await fixture.redis("XLEN", QueueKeys(queue: queue).dead(.default)) == .integer(1)
                }
            }
            #expect(log.levels(of: "handler failed") == [.info, .info])
            #expect(log.levels(of: "job dead-lettered") == [.warning])
        }
    }

    @Test("spool.worker.inflight ends at 0 when two handlers end at once, even if the write of 1 lands last")
    func inflightEndsAtZero() async throws {
        try await QueueFixture.with { fixture in
            let metrics = InflightRace()
            let queue = try QueueName("outcomes")
            let first = AsyncGate()
            let started = Mutex(0)
            var worker = fixture.worker(metrics: metrics)
            worker.subscribe(queue: queue, options: .init(concurrency: 2))
            // job "a" ends first; job "b" once the worker writes the count of 1 that "a" left
            worker.register(Greeting.self, queue: queue) { job, _ in
                started.withLock { $0 += 1 }
                await (job.name == "a" ? first : metrics.second).wait()
            }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                try await fixture.producer.push([Greeting(name: "a"), Greeting(name: "b")], to: queue)
                try await waitUntil(within: .seconds(30), "both handlers run") { started.withLock { $0 } == 2 }
                metrics.arm()
                first.open()
                try await waitUntil(within: .seconds(30), "both handlers ended and were recorded") { metrics.writesSinceArmed >= 2 }
                let gauge = try metrics.test.expectGauge("spool.worker.inflight", [("queue", "outcomes"), ("group", "default")])
                #expect(gauge.lastValue == 0, "an idle worker's gauge reads \(gauge.lastValue ?? -1)")
            }
        }
    }
}

/// Passes metrics to a ``TestMetrics``. Once armed, a write of 1 to `spool.worker.inflight`
/// opens ``second`` (the other handler ends) and waits, blocking, until a 0 was written or 500 ms
/// passed: the interleaving in which of two handlers ending at once, the one that counted 1
/// writes last. (Written under the state's lock, the other handler cannot count 0 meanwhile:
/// the wait times out, and the 0 is written after the 1.)
final class InflightRace: MetricsFactory, Sendable {
    let test = TestMetrics()
    let second = AsyncGate()
    private let state = Mutex((armed: false, zeroWritten: false, writes: 0))

    func arm() { state.withLock { $0.armed = true } }
    var writesSinceArmed: Int { state.withLock { $0.writes } }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        test.makeCounter(label: label, dimensions: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        test.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let inner = test.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
        return label == "spool.worker.inflight" ? Held(inner: inner, race: self) : inner
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        test.makeMeter(label: label, dimensions: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        test.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { test.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { test.destroyFloatingPointCounter(handler) }
    func destroyMeter(_ handler: any MeterHandler) { test.destroyMeter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { test.destroyRecorder((handler as? Held)?.inner ?? handler) }
    func destroyTimer(_ handler: any TimerHandler) { test.destroyTimer(handler) }

    fileprivate func write(_ value: Double, to inner: any RecorderHandler) {
        let armed = state.withLock { $0.armed }
        if armed && value == 1 {
            second.open()
            let deadline = ContinuousClock.now + .milliseconds(500)
            while !state.withLock({ $0.zeroWritten }) && ContinuousClock.now < deadline {
                usleep(1_000)
            }
        }
        inner.record(value)
        state.withLock { state in
            if value == 0 { state.zeroWritten = true }
            if state.armed { state.writes += 1 }
        }
    }

    private final class Held: RecorderHandler, Sendable {
        let inner: any RecorderHandler
        let race: InflightRace

        init(inner: any RecorderHandler, race: InflightRace) {
            self.inner = inner
            self.race = race
        }

        func record(_ value: Int64) { race.write(Double(value), to: inner) }
        func record(_ value: Double) { race.write(value, to: inner) }
    }
}
