import ArgumentParser
import Spool

/// `spool job QUEUE ID`: one job's envelope and where it is in each group.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Show one job and where it is in each group (pending, retry, dead, done).",
        discussion: "Exits 1 when the job is found nowhere in the queue."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The queue name.")
    var queue: String

    @Argument(help: "The job id.")
    var id: String

    @Flag(help: "Print one JSON document (fields in docs/cli.md).")
    var json = false

    func run() async throws {
        let report = try await withInspector(connection) { inspector in
            try await inspector.job(queue: try QueueName(queue), id: id)
        }
        if json {
            try JSONOutput.print(JSONOutput.job(report))
        } else {
            render(report)
        }
        if !report.isFound {
            let unreadable = report.unreadable.isEmpty ? "" : "; but " + report.unreadable.joined(separator: "; ")
            throw Terminal.fail("job \(id) not found in queue \"\(queue)\" (trimmed, or never enqueued here)\(unreadable)")
        }
        for message in report.unreadable { Terminal.error("warning: " + message) }
    }

    private func render(_ report: JobReport) {
        guard report.isFound else { return }
        let fields = report.fields
        print("job \(report.jobID) in queue \(report.queue)")
        print("  type:        \(fields["type"] ?? "-")")
        // an entry leaves out enqueued_at and attempt when they hold their defaults (docs/wire-format.md)
        // (only a UUIDv7 id carries a time; for another id, the entry's time when it has one)
        let enqueuedAt = fields["enqueued_at"].flatMap { Int64($0) }
            ?? JobID(report.jobID).flatMap { $0.version == 7 ? $0.timestamp : nil }
            ?? report.entryID.flatMap { Int64($0.prefix { $0 != "-" }) }
        print("  enqueued at: \(Formatting.relative(enqueuedAt))")
        print("  attempt:     \(fields["attempt"] ?? "1")" + (fields["max_attempts"].map { " of \($0)" } ?? ""))
        if let key = fields["key"] { print("  dedup key:   \(key)") }
        print("  entry:       " + (report.entryID ?? "not in the stream") + (report.source.map { " (envelope read from \($0.rawValue))" } ?? ""))
        if let due = report.delayedUntil { print("  delayed until \(Formatting.relative(due))") }
        if let payload = fields["payload"] { print("  payload:     \(Table.cut(payload, to: 200))") }
        print("")
        for state in report.groups {
            if state.hasValidName {
                print("  group \(state.group): \(describe(state))")
            } else {
                print("  group \(String(reflecting: state.group)): \(describe(state)); \(Formatting.invalidGroupNote)")
            }
        }
        if report.groups.isEmpty { print("  no groups yet") }
    }

    private func describe(_ state: JobGroupState) -> String {
        let stream = state.inRetryStream ? "retry stream" : "stream"
        switch state.state {
        case .pending:
            return "pending on \(state.consumer ?? "?") for \(Formatting.span(milliseconds: state.idleMilliseconds ?? 0)), "
                + "\(Formatting.counted(state.deliveries ?? 0, "delivery", plural: "deliveries")) (\(stream) entry \(state.entryID ?? "?"))"
        case .retryDue: return "retry due, waiting in the retry stream (entry \(state.entryID ?? "?"))"
        case .retryScheduled: return "retry scheduled at \(Formatting.relative(state.retryAt))"
        case .deadLettered:
            let letter = state.deadLetter
            return "dead-lettered \(Formatting.age(letter?.failedAt)) ago: \(letter?.reason ?? "?") after \(Formatting.attempts(letter?.attempts)): \(Table.cut(letter?.error ?? "", to: 200))"
        case .done: return "done at \(Formatting.relative(state.doneAt))"
        case .waiting: return "waiting (not yet delivered)"
        case .acknowledged: return "acknowledged (finished; no dedup record left)"
        case .notFound: return "not found"
        }
    }
}
