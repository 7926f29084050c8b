import SpoolTesting

/// A fault scenario: how to set up Redis and workers, and what to do during the run.
public struct Scenario: Sendable {
    /// Sizes of one run.
    public struct Parameters: Sendable {
        /// The seed: job mix, fault timing and victims derive from it.
        public var seed: UInt64
        /// Jobs to enqueue.
        public var jobs: Int
        /// The full form (more faults, e.g. 20+ worker kills) instead of the short one.
        public var full: Bool

        public init(seed: UInt64, jobs: Int, full: Bool) {
            self.seed = seed
            self.jobs = jobs
            self.full = full
        }

        /// Enqueue rate: the short form spreads its jobs over about 6 seconds.
        var rate: Double { full ? 1_500 : max(50, Double(jobs) / 6) }
    }

    /// The name used on the command line.
    public var name: String
    /// One line on what it does and what must hold.
    public var summary: String
    /// The negative controls must make the checker report loss.
    public var isNegativeControl = false
    /// Redis persistence and limits.
    public var redis = RedisServer.Options(appendOnly: true, appendFsync: "always", extraArguments: ["--maxmemory-policy", "noeviction"])
    /// The network between the clients and Redis.
    public enum Network: Sendable {
        /// Everything on 127.0.0.1.
        case loopback
        /// Redis in a private network namespace with a link that ``FaultRun/cutLink()`` can cut
        /// (needs root; see ``SpoolTesting/NetworkNamespace``).
        case partitionable
        /// Every client through a ``SpoolTesting/DelayProxy`` adding this one-way delay.
        case delayed(ClosedRange<Duration>)
    }

    /// The network between the clients and Redis. Defaults to ``Network/loopback``.
    public var network: Network = .loopback
    /// Worker processes at the start.
    public var workers = 3
    /// Worker mode at the start (`faults`, or `ack-first` for the broken control).
    public var workerMode = "faults"
    /// `spool-test-worker` settings (see its usage).
    public var workerSettings: [String: String] = [:]
    /// Loss a scenario tolerates by design: acked jobs lost are allowed if they were sent
    /// within this window before a fault started (Redis `appendfsync everysec` + SIGKILL).
    public var lossWindow: Duration? = nil
    /// How long to wait for the queue to drain after the run.
    public var drainLimit: Duration = .seconds(30)
    /// The run: enqueue and inject faults; returns scenario-specific checks and notes.
    public var body: @Sendable (FaultRun, Parameters) async throws -> Outcome

    /// Scenario-specific results, merged into the report.
    public struct Outcome: Sendable {
        public var checks: [String: Bool] = [:]
        public var notes: [String] = []
        public init() {}
    }
}
