import ArgumentParser
import Foundation
import Spool

extension DLQCommand {
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move dead letters back to their group's retry stream (only that group runs them again).",
            discussion: "Safe to interrupt and re-run: each dead letter moves atomically."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selection: DeadLetterSelection
        @OptionGroup var confirmation: RepairConfirmation

        func validate() throws { try confirmation.validate(selection) }

        func run() async throws {
            try await confirmation.run(connection, selection, verb: "replay", done: "replayed") { inspector, queue, group, filter, progress in
                try await inspector.replayDeadLetters(queue: queue, group: group, filter: filter, progress: progress)
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters for good.",
            discussion: "Safe to interrupt and re-run."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var selection: DeadLetterSelection
        @OptionGroup var confirmation: RepairConfirmation

        func validate() throws { try confirmation.validate(selection) }

        func run() async throws {
            try await confirmation.run(connection, selection, verb: "purge", done: "purged") { inspector, queue, group, filter, progress in
                try await inspector.purgeDeadLetters(queue: queue, group: group, filter: filter, progress: progress)
            }
        }
    }
}

/// `--yes` and `--dry-run`, and the list-confirm-apply flow replay and purge share.
struct RepairConfirmation: ParsableArguments {
    @Flag(name: [.short, .long], help: "Do not ask for confirmation (required when stdin is not a terminal).")
    var yes = false

    @Flag(help: "Only print what would be touched.")
    var dryRun = false

    func validate(_ selection: DeadLetterSelection) throws {
        if !selection.hasFilter && !selection.all {
            throw ValidationError("select dead letters with --id, --type or --since, or pass --all")
        }
    }

    typealias Apply = @Sendable (SpoolInspector, QueueName, GroupName, DeadLetterFilter, @escaping @Sendable (Int) -> Void) async throws -> Int

    /// Lists what matches, says so, asks (or refuses without a terminal), then applies
    /// `apply` to exactly the entries listed, with progress on stderr for long runs.
    func run(_ connection: ConnectionOptions, _ selection: DeadLetterSelection, verb: String, done: String, apply: Apply) async throws {
        try await withInspector(connection) { inspector in
            let (queue, group) = try await selection.target(inspector)
            let matching = try await inspector.deadLetters(queue: queue, group: group, filter: selection.filter(), limit: Int.max)
            let place = "queue \(queue) group \(group)"
            if matching.isEmpty {
                print("no dead letters match in \(place)")
                return
            }
            let sample = matching.prefix(5).map { $0.jobID ?? $0.entryID }.joined(separator: ", ")
            let letters = Formatting.counted(matching.count, "dead letter")
            print("\(verb) \(letters) of \(place): \(sample)\(matching.count > 5 ? ", …" : "")")
            if dryRun {
                print("dry run: nothing changed")
                return
            }
            if !yes {
                guard Terminal.isInteractive else {
                    throw Terminal.fail("refusing to \(verb) \(letters) without confirmation: stdin is not a terminal; pass --yes")
                }
                guard Terminal.confirm("\(verb) \(letters)?") else { throw Terminal.fail("aborted, nothing changed") }
            }
            let total = matching.count
            let showProgress = total > 100
            let onTerminal = Terminal.stderrIsTerminal
            let count = try await apply(inspector, queue, group, DeadLetterFilter(ids: Set(matching.map(\.entryID)))) { progress in
                guard showProgress else { return }
                let line = "\(done) \(progress)/\(total)"
                FileHandle.standardError.write(Data((onTerminal ? "\r" + line : line + "\n").utf8))
            }
            if showProgress && onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
            let target = verb == "replay" ? " to the retry stream of group \(group)" : ""
            let gone = total - count
            print("\(done) \(Formatting.counted(count, "dead letter"))\(target)"
                + (gone > 0 ? " (\(Formatting.counted(gone, "was", plural: "were")) already gone)" : ""))
        }
    }
}
