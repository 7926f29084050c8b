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
                        while self.producersPaused.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(2)) }
                        let failed = await self.enqueue(type: jobs[index].type, payload: "\(jobs[index].sleep)")
                        if failed { try? await Task.sleep(for: .milliseconds(50)) }
                    }
                }
            }
        }
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
