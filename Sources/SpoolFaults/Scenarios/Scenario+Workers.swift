import Foundation
import Synchronization

extension Scenario {
    /// Runs the producer (`producers` concurrent callers) and `faults` side by side; `faults`
    /// is told when production ended.
    static func concurrently(
        _ run: FaultRun, _ parameters: Parameters, mix: JobMix = JobMix(), rate: Double? = nil, producers: Int = 4,
        faults: @escaping @Sendable (_ producing: @Sendable () -> Bool) async throws -> Void
    ) async throws {
        let flag = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await run.produce(count: parameters.jobs, rate: rate ?? parameters.rate, mix: mix, seed: parameters.seed, concurrency: producers)
                flag.set()
            }
            group.addTask { try await faults { !flag.isSet } }
            try await group.waitForAll()
        }
    }

    /// SIGKILL a random worker every 1–3 s while producers enqueue (at least 4 kills, 20 in
    /// the full form); a supervisor starts a replacement at once.
    static let workerKill = Scenario(
        name: "worker-kill",
        summary: "workers SIGKILLed at random every 1-3 s while producers enqueue; jobs of a killed worker are reclaimed within heartbeat TTL + the lapse wait + 5 s"
    ) { run, parameters in
        let kills = Counter()
        let minimum = parameters.full ? 20 : 4
        try await concurrently(run, parameters, mix: JobMix(sleepMilliseconds: 0...30)) { producing in
            while producing() || kills.value < minimum {
                try await Task.sleep(for: .milliseconds(run.randomInt(in: 1_000...3_000)))
                run.killRandomWorker()
                kills.add(1)
            }
        }
        var outcome = Outcome()
        outcome.notes.append("\(kills.value) worker kills")
        outcome.checks["kills"] = kills.value >= minimum
        let recovery = Checker.recovery(run.history()) ?? 0
        // heartbeat TTL 1 s; a lapsed heartbeat's jobs wait a heartbeat interval, the reconnect
        // backoff and the connect timeout (0.2 + 2 + 2 s, `LapseWatch`); 5 s more
        outcome.checks["recovery<=ttl+wait+5s"] = recovery <= 10_200
        return outcome
    }

    /// SIGSTOP a worker longer than the visibility timeout (and its heartbeat TTL), then
    /// SIGCONT: its jobs were taken over; when it wakes, the effect guard stops second effects.
    static let workerStop = Scenario(
        name: "worker-stop",
        summary: "a worker SIGSTOPped 3 s (visibility timeout 1.5 s, heartbeat TTL 1 s), then resumed",
        workerSettings: ["visibility-ms": "1500"]
    ) { run, parameters in
        try await concurrently(run, parameters, mix: JobMix(sleepMilliseconds: 20...200)) { _ in
            try await Task.sleep(for: .milliseconds(1_500))
            guard let victim = run.runningWorkers.first else { return }
            try await run.fault("sigstop") {
                victim.send(SIGSTOP)
                try await Task.sleep(for: .seconds(3))
                victim.send(SIGCONT)
            }
        }
        return Outcome()
    }

    /// SIGTERM a worker mid-job: it exits within its grace period; others finish what it left.
    static let workerTerm = Scenario(
        name: "worker-term",
        summary: "SIGTERM mid-job: the worker exits within its grace period (3 s), others finish its jobs",
        workerSettings: ["grace-ms": "3000"]
    ) { run, parameters in
        let exitMilliseconds = Counter(-1)
        try await concurrently(run, parameters, mix: JobMix(sleepMilliseconds: 50...400)) { _ in
            try await Task.sleep(for: .milliseconds(2_000))
            guard let victim = run.runningWorkers.first else { return }
            let sent = ContinuousClock.now
            run.note("sigterm \(victim.name) \(nowMillis())")
            victim.send(SIGTERM)
            let deadline = sent + .seconds(10)
            while victim.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            if !victim.isRunning { exitMilliseconds.store(Int((ContinuousClock.now - sent) / .milliseconds(1))) }
        }
        var outcome = Outcome()
        let exited = exitMilliseconds.value
        outcome.notes.append("SIGTERMed worker exited after \(exited) ms (grace 3000 ms)")
        outcome.checks["exit-within-grace"] = exited >= 0 && exited <= 4_000
        return outcome
    }

    /// One long job (3× the visibility timeout) among normal load runs once, delivery count 1.
    static let longJob = Scenario(
        name: "long-job",
        summary: "a job running 3x the visibility timeout (1 s) in a live worker runs once with delivery count 1",
        workerSettings: ["visibility-ms": "1000"]
    ) { run, parameters in
        try await concurrently(run, parameters) { _ in
            try await Task.sleep(for: .milliseconds(500))
            await run.enqueue(type: "fault.long", payload: "3000")
        }
        var outcome = Outcome()
        let history = run.history()
        let long = history.enqueues.first { $0.value.type == "fault.long" }?.key
        let runs = long.flatMap { history.executions[$0] } ?? []
        outcome.notes.append("long job: \(runs.count) run(s), delivery counts \(runs.map(\.deliveries))")
        outcome.checks["long-job-once"] = runs.count == 1 && runs.first?.deliveries == 1
        return outcome
    }

    /// 1% poison jobs (always throw) and 0.1% crash-poison jobs (kill their worker), plus one
    /// crash-poison job for certain: exactly those are dead-lettered after 3 attempts.
    static let poison = Scenario(
        name: "poison",
        summary: "1% poison and 0.1% crash-poison jobs (max attempts 3): exactly those are dead-lettered, all others complete",
        workerSettings: ["max-attempts": "3"],
        drainLimit: .seconds(40)
    ) { run, parameters in
        await run.enqueue(type: "fault.crash", payload: "0")
        try await concurrently(run, parameters, mix: JobMix(poison: 0.01, crash: 0.001)) { _ in }
        return Outcome()
    }
}

/// A flag shared with `@Sendable` closures.
final class Flag: Sendable {
    private let state = Atomic<Bool>(false)
    func set() { state.store(true, ordering: .relaxed) }
    var isSet: Bool { state.load(ordering: .relaxed) }
}

/// A counter shared with `@Sendable` closures.
final class Counter: Sendable {
    private let state: Atomic<Int>
    init(_ initial: Int = 0) { state = Atomic(initial) }
    func add(_ amount: Int) { state.add(amount, ordering: .relaxed) }
    func store(_ value: Int) { state.store(value, ordering: .relaxed) }
    /// Adds one and returns the value before.
    func takeNext() -> Int { state.wrappingAdd(1, ordering: .relaxed).oldValue }
    var value: Int { state.load(ordering: .relaxed) }
}
