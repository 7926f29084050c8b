#if canImport(Glibc)
import Glibc
#endif

extension SpoolWorker {
    /// Worker-wide settings. Every field has a documented default.
    public struct Configuration: Sendable {
        /// The key prefix shared with producers. Defaults to `spool`.
        public var prefix: String
        /// This worker's Redis consumer name. Defaults to `host-pid-random`.
        ///
        /// It must be unique among live workers. A fixed name may be reused across restarts:
        /// what the previous run left pending is reclaimed at start, like a dead worker's jobs.
        public var consumerName: String
        /// How long one blocking read waits for new jobs; also bounds how long a graceful
        /// shutdown, or cancelling the worker's task, waits for the fetch loop (a read in
        /// flight is not interrupted). Defaults to 1 second.
        public var fetchBlockTime: Duration
        /// How often the worker refreshes its heartbeat and extends its jobs' leases.
        /// Defaults to 1 second.
        public var heartbeatInterval: Duration
        /// How long a heartbeat lives: a worker silent this long is dead and its jobs are
        /// reclaimed by others. Must be longer than ``heartbeatInterval`` (`run()` throws
        /// otherwise); a few times it leaves room for a slow beat. Defaults to 5 seconds.
        public var heartbeatTTL: Duration
        /// Backstop for a live but hung worker: a job whose lease was not extended for this
        /// long is taken over. Defaults to 5 minutes.
        public var visibilityTimeout: Duration
        /// How long a graceful shutdown lets running handlers finish. Defaults to 30 seconds.
        public var gracePeriod: Duration
        /// How long completed job ids are remembered for dedup. Defaults to 24 hours.
        public var dedupWindow: Duration
        /// How often due retries and delayed jobs are promoted. Defaults to 250 ms.
        public var promoteInterval: Duration
        /// How often acknowledged entries are trimmed from the stream. Defaults to 10 seconds.
        public var trimInterval: Duration
        /// Safety valve: a hard cap on the stream length that drops the oldest entries even if
        /// some group still needs them, counting what it dropped. Defaults to `nil` (off).
        public var maxStreamLength: Int?
        /// How often queue gauges (length, pending, lag, dead, scheduled) are read from Redis;
        /// `nil` turns the gauges off. Defaults to 5 seconds.
        public var metricsInterval: Duration?
        /// Largest payload a worker accepts before dead-lettering the entry. Defaults to 512 KiB.
        public var maxPayloadBytes: Int
        /// Runs the worker's tasks (fetch loops, upkeep, handlers) on one thread of its own
        /// instead of Swift's shared pool. Defaults to `false`.
        ///
        /// Faster for handlers that mostly await (network, Redis, a database): fewer thread
        /// wake-ups per job. On a 2-core machine, ten alternated runs of no-op jobs: the
        /// worker's CPU per job 13.4 → 11.4 µs, one worker's median rate 66k → 74k jobs/s
        /// (docs/performance.md, "Stop 17"). The price: every handler of the worker shares that
        /// one thread, so a handler that blocks it (synchronous I/O, `sleep`, a lock held long)
        /// or computes for long delays all the others, and CPU-bound handlers get one core.
        /// Keep the default for those.
        public var dedicatedThread: Bool

        /// Creates a configuration with the defaults.
        public init(prefix: String = QueueKeys.defaultPrefix) {
            self.prefix = prefix
            self.consumerName = Self.defaultConsumerName()
            self.fetchBlockTime = .seconds(1)
            self.heartbeatInterval = .seconds(1)
            self.heartbeatTTL = .seconds(5)
            self.visibilityTimeout = .seconds(300)
            self.gracePeriod = .seconds(30)
            self.dedupWindow = .seconds(86_400)
            self.promoteInterval = .milliseconds(250)
            self.trimInterval = .seconds(10)
            self.maxStreamLength = nil
            self.metricsInterval = .seconds(5)
            self.maxPayloadBytes = JobEnvelope.defaultMaxPayloadBytes
            self.dedicatedThread = false
        }

        /// `host-pid-random`, unique per worker instance.
        public static func defaultConsumerName() -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            gethostname(&buffer, buffer.count - 1)
            let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
            return "\(host.isEmpty ? "worker" : host)-\(getpid())-\(random)"
        }
    }

    /// Settings of one (queue, group) subscription.
    public struct SubscriptionOptions: Sendable {
        /// Handlers running at once for this subscription. Defaults to 16.
        public var concurrency: Int
        /// Retry strategy for jobs whose handler sets none. Defaults to
        /// `.exponentialJitter(maxAttempts: 5, baseDelay: 1s, maxBackoff: 300s)`.
        public var retry: RetryStrategy
        /// A handler running longer is cancelled and the attempt fails. Defaults to 5 minutes.
        public var handlerTimeout: Duration
        /// Where a *new* group starts: at the beginning of the stream, so it runs every job
        /// still there, including those pushed before any of its workers started (as a job
        /// queue should); or, with `false`, with the jobs pushed from its creation on (a new
        /// subscriber that must not see the history). Defaults to `true`, as `spool worker`'s
        /// `--start-from beginning`. An existing group keeps its position either way.
        public var startFromBeginning: Bool
        /// Skip jobs this group already completed (the dedup set). Defaults to `true`.
        public var dedup: Bool

        /// Creates options; every field has a default.
        public init(
            concurrency: Int = 16,
            retry: RetryStrategy = .exponentialJitter(),
            handlerTimeout: Duration = .seconds(300),
            startFromBeginning: Bool = true,
            dedup: Bool = true
        ) {
            self.concurrency = max(1, concurrency)
            self.retry = retry
            self.handlerTimeout = handlerTimeout
            self.startFromBeginning = startFromBeginning
            self.dedup = dedup
        }
    }
}
