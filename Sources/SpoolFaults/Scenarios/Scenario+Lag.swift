import Synchronization
import Foundation
import Spool
import SpoolRedis

extension Scenario {
    /// Producers at about twice the drain rate: while the backlog grows, `SpoolInspector`'s
    /// lag must be within 1% of the true backlog, and 0 after draining.
    ///
    /// The true backlog comes from the producer's own count of acknowledged enqueues, minus
    /// the jobs the group finished (the done set and dead letters) and those delivered but not
    /// yet finished (XPENDING). Each sample pauses producers (waiting for enqueues in flight
    /// to be logged) and freezes workers (SIGSTOP), so both sides see the same instant.
    static let lag = Scenario(
        name: "lag",
        summary: "producers at 2x the drain rate: SpoolInspector lag within 1% of the true backlog while it grows, 0 after draining",
        workers: 2,
        workerSettings: ["concurrency": "2"]
    ) { run, parameters in
        // 2 workers x 2 slots x 20 ms = at most 200 jobs/s; enqueue at 400/s.
        let jobs = min(parameters.jobs, parameters.full ? 6_000 : 1_000)
        var sized = parameters
        sized.jobs = jobs
        let samples = SampleLog()
        try await concurrently(run, sized, mix: JobMix(sleepMilliseconds: 20...20), rate: 400) { producing in
            while producing() {
                try await Task.sleep(for: .milliseconds(400))
                if let sample = try await sampleLag(run) { samples.append(sample) }
            }
        }
        await run.awaitQuiescence(within: .seconds(60))
        let status = try await SpoolInspector(client: run.client).status(of: run.queue)
        var outcome = Outcome()
        let measured = samples.all.filter { $0.truth >= 50 }
        let worst = measured.map { Double(abs($0.reported - $0.truth)) / Double($0.truth) }.max() ?? 1
        outcome.notes.append("lag samples (reported/true): " + samples.all.map { "\($0.reported)/\($0.truth)" }.joined(separator: " "))
        outcome.checks["lag-grew"] = (measured.map(\.truth).max() ?? 0) >= 100
        outcome.checks["lag-within-1%"] = !measured.isEmpty && worst <= 0.01
        outcome.checks["lag-0-after-drain"] = status.groups.first?.lag == 0
        return outcome
    }

    struct LagSample: Sendable {
        var reported: Int
        var truth: Int
    }

    /// One sample, or `nil` when no consistent instant was found (the sample is skipped, and
    /// the run fails if every sample is).
    static func sampleLag(_ run: FaultRun) async throws -> LagSample? {
        let workers = run.runningWorkers
        for worker in workers { worker.send(SIGSTOP) }
        defer {
            for worker in workers { worker.send(SIGCONT) }
            run.resumeProducers()
        }
        // Every enqueue already sent must have its outcome logged; under load one can take
        // hundreds of milliseconds (a fixed 100 ms wait once miscounted a CI run's sample).
        guard await run.pauseProducers() else { return nil }
        // Commands a worker wrote just before it stopped may still reach Redis. Only a read
        // changes the true backlog once producers are idle (an ack moves a job from pending to
        // done), so a backlog equal before and after the inspector's reading shows no read
        // landed in between.
        for _ in 0..<50 {
            let before = try await trueBacklog(run)
            guard let reported = try await SpoolInspector(client: run.client).status(of: run.queue).groups.first?.lag else { return nil }
            if try await trueBacklog(run) == before { return LagSample(reported: reported, truth: before) }
        }
        return nil
    }

    /// Acknowledged enqueues minus the jobs the group finished (done set, dead letters) and
    /// those delivered and not yet finished (XPENDING).
    private static func trueBacklog(_ run: FaultRun) async throws -> Int {
        let acked = run.history().enqueues.values.filter { $0.outcome == .ok }.count
        let replies = try await run.client.pipeline([
            RedisCommand("ZCARD", run.keys.done(.default)),
            RedisCommand("XPENDING", run.keys.stream, "default"),
            RedisCommand("XLEN", run.keys.dead(.default)),
        ])
        return acked - (replies[0].int ?? 0) - (replies[1].array?.first?.int ?? 0) - (replies[2].int ?? 0)
    }
}

/// Lag samples, shared with the sampling task.
final class SampleLog: Sendable {
    private let samples = Mutex<[Scenario.LagSample]>([])
    func append(_ sample: Scenario.LagSample) { samples.withLock { $0.append(sample) } }
    var all: [Scenario.LagSample] { samples.withLock { $0 } }
}
