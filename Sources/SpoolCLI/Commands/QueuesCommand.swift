import ArgumentParser
import Spool

/// `spool queues`: every known queue with its groups' progress.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "List queues: length, and per group pending jobs, lag, retries and dead letters."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print one JSON document (fields in docs/cli.md).")
    var json = false

    func run() async throws {
        let queues = try await withInspector(connection) { try await $0.queues() }
        if json {
            try JSONOutput.print(["queues": queues.map(JSONOutput.queue)])
            return
        }
        if queues.isEmpty {
            print("no queues (none registered under this prefix yet)")
            return
        }
        print(Self.table(queues).render())
    }

    /// One row per (queue, group); the queue's name and length only on its first row.
    static func table(_ queues: [QueueStatus]) -> Table {
        var table = Table([
            .init(title: "QUEUE", maxWidth: 24),
            .init(title: "LENGTH", alignRight: true, maxWidth: 9),
            .init(title: "GROUP", maxWidth: 16),
            .init(title: "PENDING", alignRight: true, maxWidth: 8),
            .init(title: "LAG", alignRight: true, maxWidth: 18),
            .init(title: "RETRIES", alignRight: true, maxWidth: 7),
            .init(title: "DEAD", alignRight: true, maxWidth: 7),
            .init(title: "WORKERS", alignRight: true, maxWidth: 7),
        ])
        for queue in queues {
            if queue.groups.isEmpty {
                table.append([queue.queue, "\(queue.length)", "-", "-", "-", "-", "-", "-"])
            }
            for (index, group) in queue.groups.enumerated() {
                let alive = group.consumers.filter(\.alive).count
                table.append([
                    index == 0 ? queue.queue : "", index == 0 ? "\(queue.length)" : "",
                    group.group, "\(group.pending)", Formatting.lag(group),
                    "\(group.scheduledRetries + group.dueRetries)", "\(group.deadLetters)", "\(alive)",
                ])
            }
        }
        return table
    }
}
