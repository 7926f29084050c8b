/// The Jepsen-style checker: compares what producers were told with what workers did and
/// what the dead-letter stream holds.
public enum Checker {
    /// Job types that must end in the dead-letter stream.
    public static let poisonTypes: Set<String> = ["fault.poison", "fault.crash"]

    /// Checks a history against the dead-lettered job ids.
    public static func check(_ history: History, deadLetters: [String]) -> Report {
        var report = Report()
        for enqueue in history.enqueues.values {
            switch enqueue.outcome {
            case .ok: report.acked += 1
            case .failed: report.failed += 1
            case .indeterminate: report.indeterminate += 1
            }
            report.maxEnqueueMilliseconds = max(report.maxEnqueueMilliseconds, enqueue.latency)
        }
        let dead = Set(deadLetters)
        report.deadActual = dead.count
        report.handled = history.effects.count
        report.guardHits = history.guardHits
        report.duplicateEffects = history.effects.values.filter { $0 > 1 }.count

        var expectedDead: Set<String> = []
        for (id, enqueue) in history.enqueues where Self.poisonTypes.contains(enqueue.type) {
            if enqueue.outcome == .ok || (enqueue.outcome == .indeterminate && (history.executions[id] != nil || dead.contains(id))) {
                expectedDead.insert(id)
            }
        }
        report.deadExpected = expectedDead.count
        report.deadMismatch = dead.symmetricDifference(expectedDead).count
        report.unexpectedDead = Array(dead.subtracting(expectedDead).sorted().prefix(5))
        report.missingDead = Array(expectedDead.subtracting(dead).sorted().prefix(5))

        for (id, enqueue) in history.enqueues where enqueue.outcome == .ok {
            if history.effects[id] == nil && !dead.contains(id) {
                report.lost += 1
                report.lostIDs.append(id)
                if report.lostSample.count < 5 { report.lostSample.append(id) }
            }
        }
        let known = Set(history.enqueues.keys)
        report.unexpected = Set(history.executions.keys).union(history.effects.keys).union(dead).subtracting(known).count
        for (id, runs) in history.executions {
            report.maxDeliveries = max(report.maxDeliveries, runs.map(\.deliveries).max() ?? 0)
            if let type = history.enqueues[id]?.type, Self.poisonTypes.contains(type) { continue }
            report.duplicateExecutions += runs.count - 1
        }
        report.recoveryMilliseconds = recovery(history)
        return report
    }

    /// The worst recovery time over all faults that ended (see ``Report/recoveryMilliseconds``).
    static func recovery(_ history: History) -> Int64? {
        let effectTimes = history.effectTimes.values.sorted()
        var worst: Int64?
        for fault in history.faults {
            guard let end = fault.end else { continue }
            var recovered: Int64?
            if let worker = fault.worker {
                // the jobs the killed worker was running: its last execution before the kill,
                // with no effect before the kill
                var held: [String] = []
                for (id, runs) in history.executions {
                    guard let last = runs.last(where: { $0.at <= end }), last.worker == worker else { continue }
                    if let effect = history.effectTimes[id], effect <= end { continue }
                    if let type = history.enqueues[id]?.type, Self.poisonTypes.contains(type) { continue }
                    held.append(id)
                }
                if held.isEmpty { continue }
                let times = held.compactMap { history.effectTimes[$0] }
                if times.count == held.count { recovered = times.max()! - end }
            } else if let next = effectTimes.first(where: { $0 > end }) {
                recovered = next - end
            } else if !Self.workWaiting(history, at: end) {
                // every job had taken effect when the fault ended (a short run): nothing to
                // recover, which is not a failure to recover
                recovered = 0
            }
            if let recovered {
                worst = max(worst ?? 0, recovered)
            }
        }
        return worst
    }

    /// Whether a job acknowledged to its producer (poison jobs aside) had not taken effect by `instant`.
    static func workWaiting(_ history: History, at instant: Int64) -> Bool {
        history.enqueues.contains { id, enqueue in
            enqueue.outcome == .ok && !poisonTypes.contains(enqueue.type) && (history.effectTimes[id] ?? .max) > instant
        }
    }
}
