import ArgumentParser
import Foundation
import Spool

/// `spool dlq list|show|replay|purge`: look at and repair a group's dead letters.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, show, replay or purge a group's dead letters.",
        subcommands: [List.self, Show.self, Replay.self, Purge.self]
    )
}

/// The queue, group and filters every `dlq` subcommand takes.
struct DeadLetterSelection: ParsableArguments {
    @Argument(help: "The queue name.")
    var queue: String

    @Option(parsing: .unconditional, help: "The group whose dead letters to use.")
    var group = "default"

    @Option(name: .customLong("id"), help: ArgumentHelp("Only this job id or dead-letter entry id (repeatable).", valueName: "id"))
    var ids: [String] = []

    @Option(parsing: .unconditional, help: "Only jobs of this type.")
    var type: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only dead letters since a duration ago (1h, 30m) or an ISO-8601 time.", valueName: "time"))
    var since: SinceArgument?

    @Flag(help: "All matching dead letters: no --limit for list; required by replay and purge without other filters.")
    var all = false

    var hasFilter: Bool { !ids.isEmpty || type != nil || since != nil }

    func validate() throws {
        try OptionValue.refuseOptionName(group, for: "--group")
        try OptionValue.refuseOptionName(type, for: "--type")
    }

    func filter(extraIDs: [String] = []) -> DeadLetterFilter {
        DeadLetterFilter(ids: Set(ids + extraIDs), type: type, since: since?.millis)
    }

    /// The queue and group, checked: an unknown queue or group is an error.
    func target(_ inspector: SpoolInspector) async throws -> (QueueName, GroupName) {
        let name = try QueueName(queue)
        let groupName = try GroupName(group)
        let status = try await inspector.status(of: name)
        if !status.groups.contains(where: { $0.group == group }),
           try await inspector.deadLetters(queue: name, group: groupName, limit: 1).isEmpty {
            let known = status.groups.map(\.group).joined(separator: ", ")
            throw Terminal.fail("unknown group \"\(group)\" of queue \"\(queue)\" (groups: \(known.isEmpty ? "none" : known))")
        }
        return (name, groupName)
    }
}

/// `--since`: a duration ago (`1h`) or an ISO-8601 time (`2024-05-01T12:00:00Z`).
struct SinceArgument: ExpressibleByArgument, Sendable {
    var millis: Int64

    /// What a `--since` value looks like, for an error about one.
    static let formatHint = "give a duration ago (a number with ms, s, m or h, e.g. 30m, 2h) or an ISO 8601 time "
        + "(2024-05-01T12:00:00Z, 2024-05-01)"

    init?(argument: String) {
        if let duration = DurationArgument(argument: argument) {
            let (seconds, attos) = duration.duration.components
            millis = Formatting.nowMillis() - (seconds * 1000 + attos / 1_000_000_000_000_000)
            return
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate]] {
            formatter.formatOptions = options
            if let date = formatter.date(from: argument) {
                millis = Int64(date.timeIntervalSince1970 * 1000)
                return
            }
        }
        return nil
    }
}

extension DLQCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selection: DeadLetterSelection

        @Option(parsing: .unconditional, help: "Show at most this many (unless --all).")
        var limit = 50

        @Flag(help: "Print one JSON document (fields in docs/cli.md).")
        var json = false

        func validate() throws {
            guard limit >= 1 else { throw ValidationError("--limit must be 1 or more (or pass --all)") }
        }

        func run() async throws {
            // one more than shown tells whether more match (`--limit` may be Int.max)
            let cap = selection.all || limit == Int.max ? Int.max : limit + 1
            let letters = try await withInspector(connection) { inspector in
                let (queue, group) = try await selection.target(inspector)
                return try await inspector.deadLetters(queue: queue, group: group, filter: selection.filter(), limit: cap)
            }
            let shown = selection.all ? letters : Array(letters.prefix(limit))
            let more = letters.count > shown.count
            if json {
                try JSONOutput.print([
                    "queue": selection.queue, "group": selection.group, "count": shown.count, "truncated": more,
                    "dead_letters": shown.map(JSONOutput.deadLetter),
                ])
                return
            }
            if shown.isEmpty {
                print("no dead letters match in queue \(selection.queue) group \(selection.group)")
                return
            }
            var table = Table([
                .init(title: "JOB ID", maxWidth: 36),
                .init(title: "TYPE", maxWidth: 14),
                .init(title: "REASON", maxWidth: 17),
                .init(title: "ATT", alignRight: true, maxWidth: 3),
                .init(title: "AGE", alignRight: true, maxWidth: 6),
                .init(title: "ERROR", maxWidth: 40),
            ])
            for letter in shown {
                table.append([
                    letter.jobID ?? letter.entryID, letter.type ?? "-", letter.reason,
                    letter.attempts.map(String.init) ?? "-", Formatting.age(letter.failedAt), letter.error,
                ])
            }
            print(table.render())
            if more { print("(more match: pass --all or a larger --limit)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dead letters in full: errors, times, payload.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selection: DeadLetterSelection

        @Argument(help: "Job ids or dead-letter entry ids to show (same as --id).")
        var entries: [String] = []

        @Flag(help: "Print one JSON document (fields in docs/cli.md).")
        var json = false

        func validate() throws {
            if entries.isEmpty && !selection.hasFilter && !selection.all {
                throw ValidationError("name dead letters to show: an id, --id, --type, --since or --all")
            }
        }

        func run() async throws {
            let ids = entries
            let letters = try await withInspector(connection) { inspector in
                let (queue, group) = try await selection.target(inspector)
                return try await inspector.deadLetters(
                    queue: queue, group: group, filter: selection.filter(extraIDs: ids), limit: Int.max
                )
            }
            if json {
                try JSONOutput.print([
                    "queue": selection.queue, "group": selection.group, "count": letters.count,
                    "dead_letters": letters.map(JSONOutput.deadLetter),
                ])
            } else {
                for (index, letter) in letters.enumerated() {
                    if index > 0 { print("") }
                    render(letter)
                }
            }
            if letters.isEmpty { throw Terminal.fail("no dead letter matches in queue \"\(selection.queue)\" group \"\(selection.group)\"") }
        }

        private func render(_ letter: DeadLetter) {
            print("dead letter \(letter.entryID)")
            field("job id", letter.jobID ?? "-")
            field("type", letter.type ?? "-")
            field("reason", "\(letter.reason) after \(Formatting.attempts(letter.attempts))")
            field("error", letter.error)
            if let first = letter.firstError, first != letter.error { field("first error", first) }
            field("failed at", Formatting.relative(letter.failedAt))
            field("first fail", Formatting.relative(letter.firstFailedAt))
            field("worker", letter.worker ?? "-")
            field("was entry", letter.originalEntryID ?? "-")
            field("payload", letter.payload ?? "-")
        }

        /// `  label:  value`, values in one column; a value's further lines (a stack trace in
        /// a handler's error, pretty-printed JSON) are indented to that column too.
        /// Blank lines stay blank.
        private func field(_ label: String, _ value: String) {
            let head = "  " + (label + ":").padding(toLength: 13, withPad: " ", startingAt: 0)
            let indent = String(repeating: " ", count: head.count)
            // (split by scalar: a `\r\n` is one Character; its `\r` prints escaped)
            var lines = value.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
            // (a value's last line feed ends its last line: no blank line before the next label)
            if lines.count > 1 && lines.last == "" { lines.removeLast() }
            if lines == [""] {
                print("  \(label):")   // (an empty value: no padding left at the end of the line)
                return
            }
            print(head + lines.enumerated().map { $0 == 0 || $1.isEmpty ? $1 : indent + $1 }.joined(separator: "\n"))
        }
    }
}
