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
        /// 1 to 200 bytes, without a colon or control characters, not ending in `~previous`
        /// (``SpoolWorker/run()`` refuses others).
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
        ///
        /// A lapsed heartbeat's jobs are reclaimed once it has been seen gone for a
        /// ``heartbeatInterval`` plus the client's reconnect backoff and connect timeout
        /// (`RedisConfiguration.reconnectMaxDelay` and `connectTimeout`, 2 s each by default):
        /// after Redis was away or refused writes for longer than the TTL, every heartbeat
        /// lapsed at once, and live workers write theirs again within that (docs/semantics.md,
        /// "Crash recovery by liveness"). Give the workers of a group the same settings.
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
        ///
        /// The thread also drives the I/O of the worker's own shared Redis connection, as an
        /// event loop does: the worker's commands are written once the ready tasks have run,
        /// and their replies read when its socket is readable, with no connection thread in
        /// between (docs/performance.md, "Stop 33"). That connection is made from the
        /// `RedisClient`'s configuration and goes down with the client; the worker's blocking
        /// reads keep connections with threads of their own. On a Redis Cluster the worker
        /// sends through the client as it is. A connect, and a write to a full socket, wait on
        /// that thread (at most the connect and command timeouts), as a blocking handler would.
        public var dedicatedThread: Bool
        /// With ``dedicatedThread``: how long the worker's thread, waiting for Redis's replies,
        /// polls its sockets without sleeping before it sleeps. Defaults to 100 µs; zero turns
        /// it off. At most 10 ms.
        ///
        /// A reply on loopback comes within tens of microseconds; sleeping for it costs the
        /// thread a switch out and back in, and Redis a wake-up of a sleeping thread. Polling
        /// made one busy worker about 15% faster on a 2-core machine (docs/performance.md,
        /// "Stop 34"). The cost is CPU: the thread stays busy up to this long per wait. It backs
        /// off when replies are slower (a remote or loaded Redis): after four polls in a row
        /// that catch no reply, the next 16 waits sleep at once, then 32 after the next four
        /// misses, up to 1,024; a poll that catches a reply starts over. So slow replies cost
        /// four polls per back-off, and an idle worker (its blocking reads wait on connections
        /// of their own) polls only for its upkeep's few commands. Set it to zero where CPU is
        /// scarcer than latency (a CPU quota below a core).
        public var busyPoll: Duration

        /// The longest ``busyPoll``: 10 ms.
        public static var maxBusyPoll: Duration { .milliseconds(10) }

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
            self.busyPoll = .microseconds(100)
        }

        /// `host-pid-random`, unique per worker instance.
        public static func defaultConsumerName() -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            gethostname(&buffer, buffer.count - 1)
            // at most 150 bytes of it: a consumer name is at most 200 (macOS allows 255-byte host names)
            let host = String(decoding: buffer.prefix { $0 != 0 }.prefix(150).map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
        /// How many jobs beyond `concurrency` the worker may read ahead and hold, unstarted, for
        /// its next free slots. Defaults to 0: it reads only as many jobs as slots are free.
        ///
        /// Reading more per round trip costs Redis and the worker less per job, so a worker of
        /// short jobs goes faster (docs/performance.md, "Stop 34"); at most `concurrency`
        /// handlers still run at once. The price is fairness: a held job waits for a slot of
        /// this worker while another worker may be idle, so keep it 0 for long jobs. A held job
        /// is the worker's as a running one is: its lease is extended, and if the worker dies it
        /// is reclaimed with one more delivery, which counts as an attempt (so a job on its last
        /// attempt, or with no retries, is dead-lettered as `max_deliveries` without having
        /// run). A shutdown, or the worker's task cancelled, hands held jobs back unstarted, as
        /// the same attempt. A blocking read over the main and the retry stream can bring up to
        /// twice its count, so for a moment a worker may hold up to about
        /// `2 × (concurrency + prefetch)` jobs. A handler that hands its job back with a pause
        /// (``HandBackError``) pauses its slot, not the held jobs, which start as other slots
        /// free. At most ``maxPrefetch``.
        public var prefetch: Int

        /// The largest ``prefetch``.
        public static var maxPrefetch: Int { 1_000 }

        /// Creates options; every field has a default.
        public init(
            concurrency: Int = 16,
            retry: RetryStrategy = .exponentialJitter(),
            handlerTimeout: Duration = .seconds(300),
            startFromBeginning: Bool = true,
            dedup: Bool = true,
            prefetch: Int = 0
        ) {
            self.concurrency = max(1, concurrency)
            self.retry = retry
            self.handlerTimeout = handlerTimeout
            self.startFromBeginning = startFromBeginning
            self.dedup = dedup
            self.prefetch = prefetch
        }
    }
}

extension SpoolWorker.Configuration {
    /// Refuses values a worker cannot run with (what each would do is said with it): checked
    /// by ``SpoolWorker/run()`` before anything is sent, as the `spool worker` command checks
    /// its flags.
    /// - Throws: ``SpoolError`` (code `invalidArgument`) naming the first such field.
    func validate() throws(SpoolError) {
        func refuse(_ message: String) -> SpoolError { SpoolError(code: .invalidArgument, message: message) }
        // leases are extended once per beat: a running job's idle time reaches the interval
        if visibilityTimeout <= heartbeatInterval {
            throw refuse("visibilityTimeout (\(visibilityTimeout)) must be longer than heartbeatInterval (\(heartbeatInterval)): "
                + "other workers would take running jobs between their lease extensions and run them a second time; the default "
                + "is 5 minutes")
        }
        // sent as `SET … PX <ms>`: Redis refuses 0 ms and an expiry past its clock, and the
        // refusal named no field ("run the worker failed: invalid expire time")
        if heartbeatTTL < .milliseconds(1) || heartbeatTTL > .seconds(100 * 365 * 86_400) {
            throw refuse("heartbeatTTL (\(heartbeatTTL)) must be from 1 ms to 100 years; the default is 5 seconds")
        }
        if fetchBlockTime < .milliseconds(1) {
            throw refuse("fetchBlockTime (\(fetchBlockTime)) must be at least 1 ms (Redis reads BLOCK 0 as waiting forever); "
                + "the default is 1 second")
        }
        let intervals: [(String, Duration?, String)] = [
            ("promoteInterval", promoteInterval, "250 ms"), ("trimInterval", trimInterval, "10 seconds"),
            ("metricsInterval", metricsInterval, "5 seconds, or nil for no queue gauges"),
        ]
        for (name, interval, byDefault) in intervals {
            guard let interval, interval <= .zero else { continue }
            throw refuse("\(name) (\(interval)) must be positive, or the worker sends its scripts back to back; the default is \(byDefault)")
        }
        if gracePeriod < .zero { throw refuse("gracePeriod (\(gracePeriod)) must not be negative; the default is 30 seconds") }
        if dedupWindow < .milliseconds(1) || dedupWindow > .seconds(100 * 365 * 86_400) {
            throw refuse("dedupWindow (\(dedupWindow)) must be from 1 ms to 100 years (below 1 ms no id is kept, and dedup "
                + "is off without saying so); the default is 24 hours")
        }
        if let maxStreamLength, maxStreamLength < 1 {
            throw refuse("maxStreamLength (\(maxStreamLength)) must be 1 or more, or nil for no cap (the default)")
        }
        if !(1...JobEnvelope.maxPayloadBytesLimit).contains(maxPayloadBytes) {
            throw refuse("maxPayloadBytes (\(maxPayloadBytes)) must be 1...\(JobEnvelope.maxPayloadBytesLimit), or every job "
                + "with a payload is dead-lettered as malformed; the default is \(JobEnvelope.defaultMaxPayloadBytes)")
        }
        if busyPoll < .zero || busyPoll > Self.maxBusyPoll {
            throw refuse("busyPoll (\(busyPoll)) must be from 0 to 10 ms (longer only keeps a core busy while Redis is slow); "
                + "the default is 100 µs")
        }
        if let reason = Self.whyNotAConsumerName(consumerName) {
            throw refuse("consumerName \(String(reflecting: consumerName)) \(reason); the default, host-pid-random, is always usable")
        }
    }

    /// Why `name` cannot be a consumer name, or `nil`. Empty, it is no name. A colon would let
    /// two (group, consumer) pairs share a heartbeat key (`hb:<group>:<consumer>`, group names
    /// may hold colons): one worker's beat would keep another's lapsed jobs from reclaim. The
    /// `~previous` suffix names the consumer an earlier run's jobs are handed over to. Control
    /// characters would reach logs and terminals. Longer than 200 bytes, it only costs memory.
    static func whyNotAConsumerName(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 200 { return "is longer than 200 bytes" }
        if name.contains(":") { return "holds a colon, which would let two workers share a heartbeat key" }
        if name.hasSuffix("~previous") { return "ends in ~previous, which names where an earlier run's jobs are handed over" }
        if name.containsControlCharacters { return "holds control characters" }
        return nil
    }
}

extension Subscription {
    /// Refuses options that would stall or fail every job: a concurrency below 1 (set after
    /// `init`, which raises it to 1) waits for a slot forever; a timeout of 0 or less fails
    /// every attempt. (A prefetch outside 0...``SpoolWorker/SubscriptionOptions/maxPrefetch``
    /// is refused too: a negative one would shrink the slots, a huge one read that many jobs
    /// at once.)
    /// - Throws: ``SpoolError`` (code `invalidArgument`) naming the subscription and the value.
    func validate(_ key: SubscriptionKey) throws(SpoolError) {
        let subscription = "the subscription to queue \(key.queue) group \(key.group)"
        if options.concurrency < 1 {
            throw SpoolError(code: .invalidArgument, message: "\(subscription) has concurrency \(options.concurrency): "
                + "it must be 1 or more, or no job ever starts; the default is 16")
        }
        if !(0...SpoolWorker.SubscriptionOptions.maxPrefetch).contains(options.prefetch) {
            throw SpoolError(code: .invalidArgument, message: "\(subscription) has prefetch \(options.prefetch): it must be "
                + "0...\(SpoolWorker.SubscriptionOptions.maxPrefetch); the default, 0, reads only as many jobs as slots are free")
        }
        let timeouts = [options.handlerTimeout] + handlers.values.compactMap(\.timeout) + [fallback?.timeout].compactMap { $0 }
        if let bad = timeouts.first(where: { $0 <= .zero }) {
            throw SpoolError(code: .invalidArgument, message: "\(subscription) has a handler timeout of \(bad): it must be "
                + "positive, or every attempt times out; the default is 5 minutes")
        }
    }
}
