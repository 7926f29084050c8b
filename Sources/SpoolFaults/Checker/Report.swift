import Foundation
/// What the checker found in one run.
public struct Report: Sendable, Codable {
    /// The scenario's name.
    public var scenario: String = ""
    /// The seed it ran with.
    public var seed: UInt64 = 0
    /// Enqueues Redis acknowledged.
    public var acked = 0
    /// Enqueues that failed for sure (never sent, or an error reply such as OOM).
    public var failed = 0
    /// Enqueues whose outcome is unknown (timeout, lost connection); never counted as lost.
    public var indeterminate = 0
    /// Jobs whose effect was applied.
    public var handled = 0
    /// Acked jobs neither handled nor dead-lettered.
    public var lost = 0
    /// Of ``lost``, jobs the scenario tolerates losing (acked within Redis's fsync window).
    public var lossAllowed = 0
    /// Executed jobs no producer ever tried to enqueue.
    public var unexpected = 0
    /// Executions beyond the first of jobs meant to succeed (poison retries excluded).
    public var duplicateExecutions = 0
    /// Jobs whose effect was applied more than once.
    public var duplicateEffects = 0
    /// Second runs stopped by the effect guard (each one a duplicate effect prevented).
    public var guardHits = 0
    /// Poison and crash-poison jobs expected in the dead-letter stream.
    public var deadExpected = 0
    /// Jobs in the dead-letter stream.
    public var deadActual = 0
    /// Jobs dead-lettered that should not be, plus expected ones that are missing.
    public var deadMismatch = 0
    /// The highest delivery count any execution saw.
    public var maxDeliveries = 0
    /// Worst recovery after a fault ended, in ms: for a worker kill, until the last job the
    /// killed worker held was handled by another; for a Redis fault, until the next handled job.
    public var recoveryMilliseconds: Int64?
    /// The slowest enqueue call (success or failure), in ms.
    public var maxEnqueueMilliseconds: Int64 = 0
    /// Scenario-specific checks: name → passed.
    public var checks: [String: Bool] = [:]
    /// Scenario-specific measurements, one line each.
    public var notes: [String] = []
    /// `true` for a negative control, which passes only if the checker finds loss.
    public var isNegativeControl = false
    /// Wall time of the run in seconds.
    public var seconds: Double = 0
    /// The first few lost job ids, for debugging.
    public var lostSample: [String] = []
    /// A few dead-lettered jobs that should not be.
    public var unexpectedDead: [String] = []
    /// A few poison jobs missing from the dead-letter stream.
    public var missingDead: [String] = []
    /// Every lost job id (not encoded).
    public var lostIDs: [String] = []

    enum CodingKeys: String, CodingKey {
        case scenario, seed, acked, failed, indeterminate, handled, lost, lossAllowed, unexpected, duplicateExecutions
        case duplicateEffects, guardHits, deadExpected, deadActual, deadMismatch, maxDeliveries, recoveryMilliseconds
        case maxEnqueueMilliseconds, checks, notes, isNegativeControl, seconds, lostSample, unexpectedDead, missingDead
    }

    /// The pass criteria: no loss, no duplicate effect, nothing unexpected, exactly the
    /// expected dead letters, and every scenario check; a negative control must show loss.
    public var passed: Bool {
        if isNegativeControl { return lost > 0 }
        return lost - lossAllowed == 0 && duplicateEffects == 0 && unexpected == 0 && deadMismatch == 0 && checks.values.allSatisfy { $0 }
    }

    /// The column names of ``tableRow``.
    public static let tableHeader =
        "| scenario | seed | acked | failed | indet. | handled | lost (allowed) | unexp. | dup exec | dup effects | guard hits | dead exp/act | max deliv. | recovery ms | max enqueue ms | s | result |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

    /// One Markdown table row.
    public var tableRow: String {
        let failedChecks = checks.filter { !$0.value }.keys.sorted()
        let result = passed ? (isNegativeControl ? "pass (loss detected)" : "pass") : "FAIL" + (failedChecks.isEmpty ? "" : " " + failedChecks.joined(separator: ","))
        let cells: [String] = [
            scenario, "\(seed)", "\(acked)", "\(failed)", "\(indeterminate)", "\(handled)", lossAllowed > 0 ? "\(lost) (\(lossAllowed))" : "\(lost)", "\(unexpected)",
            "\(duplicateExecutions)", "\(duplicateEffects)", "\(guardHits)", "\(deadExpected)/\(deadActual)", "\(maxDeliveries)",
            recoveryMilliseconds.map { "\($0)" } ?? "-", "\(maxEnqueueMilliseconds)", String(format: "%.1f", seconds), result,
        ]
        return "| " + cells.joined(separator: " | ") + " |"
    }
}
