import ArgumentParser
import Spool

/// `spool inspect QUEUE`: one queue's groups, their workers, and its newest entries.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show one queue: each group and worker, and the newest entries."
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The queue name.")
    var queue: String

    @Option(parsing: .unconditional, help: "How many of the newest entries to list.")
    var count = 10

    @Flag(help: "Print one JSON document (fields in docs/cli.md).")
    var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be 1 or more") }
    }

    func run() async throws {
        let (status, entries) = try await withInspector(connection) { inspector in
            let name = try QueueName(queue)
            let status = try await inspector.status(of: name)
            return (status, try await inspector.recentEntries(queue: name, count: count))
        }
        if json {
            var document = JSONOutput.queue(status)
            document["entries"] = entries.map(JSONOutput.entry)
            try JSONOutput.print(document)
            return
        }
        print("queue \(status.queue): \(Formatting.counted(status.length, "entry", plural: "entries")), \(status.delayed) delayed, \(status.droppedByCap) dropped by cap")
        if status.groups.isEmpty { print("\nno groups yet (no worker subscribed)") }
        for group in status.groups {
            print("")
            if group.hasValidName {
                print("group \(group.group): pending \(group.pending), lag \(Formatting.lag(group)), "
                    + "retries \(group.scheduledRetries) scheduled + \(group.dueRetries) due, "
                    + "dead \(group.deadLetters), done \(group.completed), last delivered \(group.lastDeliveredID)")
            } else {
                print("group \(String(reflecting: group.group)): pending \(group.pending), lag \(Formatting.lag(group)), "
                    + "last delivered \(group.lastDeliveredID); \(Formatting.invalidGroupNote)")
            }
            if group.consumers.isEmpty {
                print("  no workers")
                continue
            }
            var table = Table([
                .init(title: "WORKER", maxWidth: 48),
                .init(title: "PENDING", alignRight: true, maxWidth: 8),
                .init(title: "IDLE", alignRight: true, maxWidth: 8),
                .init(title: "ALIVE", maxWidth: 5),
            ])
            for consumer in group.consumers {
                table.append([consumer.name, "\(consumer.pending)", Formatting.span(milliseconds: consumer.idleMilliseconds), consumer.alive ? "yes" : "no"])
            }
            print(table.render(indent: "  "))
        }
        print("")
        guard !entries.isEmpty else {
            print("no entries in the stream")
            return
        }
        print("newest \(Formatting.counted(entries.count, "entry", plural: "entries")):")
        var table = Table([
            .init(title: "ENTRY ID", maxWidth: 24),
            .init(title: "JOB ID", maxWidth: 36),
            .init(title: "TYPE", maxWidth: 20),
            .init(title: "ATTEMPT", alignRight: true, maxWidth: 7),
            .init(title: "AGE", alignRight: true, maxWidth: 7),
        ])
        for entry in entries {
            table.append([
                entry.entryID, entry.jobID ?? "-", entry.type ?? "-", entry.attempt.map(String.init) ?? "-",
                Formatting.age(entry.enqueuedAt ?? entry.addedAt),
            ])
        }
        print(table.render(indent: "  "))
    }
}
