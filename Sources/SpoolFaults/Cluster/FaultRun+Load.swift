import Spool
import SpoolRedis
import Synchronization

/// The jobs a producer sends: mostly `fault.normal` jobs sleeping a few milliseconds, with
/// optional poison (always throw) and crash-poison (kill their worker) jobs.
public struct JobMix: Sendable {
    /// Share of `fault.poison` jobs.
    public var poison: Double = 0
    /// Share of `fault.crash` jobs.
    public var crash: Double = 0
    /// Handler sleep of normal jobs, in ms.
    public var sleepMilliseconds: ClosedRange<Int> = 0...10

    public init(poison: Double = 0, crash: Double = 0, sleepMilliseconds: ClosedRange<Int> = 0...10) {
        self.poison = poison
        self.crash = crash
        self.sleepMilliseconds = sleepMilliseconds
    }
}

extension FaultRun {
    /// Enqueues `count` jobs at about `rate` per second from `concurrency` tasks, logging each
    /// outcome. The job types and sleeps come from `seed`, so a run replays.
    public func produce(count: Int, rate: Double, mix: JobMix, seed: UInt64, concurrency: Int = 4) async {
        var generator = SplitMix64(seed: seed)
        var plan: [(type: String, sleep: Int)] = []
        plan.reserveCapacity(count)
        for _ in 0..<count {
            let roll = Double.random(in: 0..<1, using: &generator)
            let type = roll < mix.crash ? "fault.crash" : roll < mix.crash + mix.poison ? "fault.poison" : "fault.normal"
            plan.append((type, Int.random(in: mix.sleepMilliseconds, using: &generator)))
        }
        let next = Counter()
        let start = ContinuousClock.now
        let jobs = plan
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let index = next.takeNext()
                        guard index < jobs.count else { return }
                        let due = start + .seconds(Double(index) / rate)
                        if due > .now { try? await Task.sleep(until: due) }
                        await self.enterEnqueue()
                        let failed = await self.enqueue(type: jobs[index].type, payload: "\(jobs[index].sleep)")
                        self.enqueuesInFlight.subtract(1, ordering: .sequentiallyConsistent)
                        if failed { try? await Task.sleep(for: .milliseconds(50)) }
                    }
                }
            }
        }
    }

    /// Waits while producers are paused, then counts this producer's enqueue as in flight.
    /// The count goes up before the flag is read, and `pauseProducers` sets the flag before it
    /// reads the count (both sequentially consistent): one of the two always sees the other.
    private func enterEnqueue() async {
        while true {
            enqueuesInFlight.add(1, ordering: .sequentiallyConsistent)
            if !producersPaused.load(ordering: .sequentiallyConsistent) { return }
            enqueuesInFlight.subtract(1, ordering: .sequentiallyConsistent)
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Stops producers from sending more jobs and waits until every enqueue already sent has
    /// its outcome logged. Returns `false` if that took longer than `limit` (the producers stay
    /// paused either way; call `resumeProducers`).
    public func pauseProducers(within limit: Duration = .seconds(10)) async -> Bool {
        producersPaused.store(true, ordering: .sequentiallyConsistent)
        let deadline = ContinuousClock.now + limit
        while enqueuesInFlight.load(ordering: .sequentiallyConsistent) > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    public func resumeProducers() {
        producersPaused.store(false, ordering: .sequentiallyConsistent)
    }

    /// Enqueues one job and logs `enq <outcome> <id> <type> <sent-ms> <latency-ms>`; returns
    /// `true` when it failed or its outcome is unknown.
    @discardableResult
    public func enqueue(type: String, payload: String) async -> Bool {
        let envelope = JobEnvelope(type: type, payload: Array(payload.utf8))
        let sent = nowMillis()
        let outcome: History.Outcome
        do {
            _ = try await producer.push(envelope, to: queue)
            outcome = .ok
        } catch {
            outcome = Self.classify(error)
        }
        enqueueLog.append("enq \(outcome.rawValue) \(envelope.id) \(type) \(sent) \(nowMillis() - sent)")
        return outcome != .ok
    }

    /// `failed` when the command was surely not applied (never sent, or an error reply),
    /// else `indeterminate`.
    static func classify(_ error: SpoolError) -> History.Outcome {
        guard error.code == .redis, let redis = error.underlying as? RedisError else {
            return error.code == .redis ? .indeterminate : .failed
        }
        switch redis.code {
        case .connectionFailed, .serverError, .outOfMemory, .noScript, .noPermission, .authenticationFailed, .redirected:
            return .failed
        default:
            return .indeterminate
        }
    }
}
