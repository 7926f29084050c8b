import ArgumentParser
import Foundation
import Spool
import SpoolRedis
import UnixSignals

/// `spool queues`: every known queue with its groups' progress.
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "List queues: length, and per group pending jobs, lag, retries and dead letters."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print one JSON document (fields in docs/cli.md).")
    var json = false

    @Flag(help: "Refresh every --interval with rates per second until Ctrl-C (one frame per interval without a terminal).")
    var watch = false

    @Option(parsing: .unconditional, help: ArgumentHelp("How often --watch refreshes. Defaults to 1s.", valueName: "duration"))
    var interval: DurationArgument?

    func validate() throws {
        if watch && json { throw ValidationError("--watch is a terminal view: use `spool stats --json` for scripts") }
        if let interval, interval.duration <= .zero { throw ValidationError("--interval must be positive") }
        // it did nothing without --watch, and said nothing
        if interval != nil && !watch { throw ValidationError("--interval is how often --watch refreshes: add --watch, or leave it out") }
    }

    func run() async throws {
        if watch {
            try await Self.watch(connection, every: interval ?? DurationArgument(.seconds(1)))
            return
        }
        if json {
            let queues = try await withInspector(connection) { try await $0.queues() }
            try JSONOutput.print(["queues": queues.map(JSONOutput.queue)])
            return
        }
        // the table lists every queue it can read, then fails naming those it could not (a
        // key clobbered by another application must not hide the healthy queues)
        let (queues, failures) = try await withInspector(connection) { inspector in
            var queues: [QueueStatus] = []
            let (names, invalid) = try await inspector.registry()
            var failures = invalid
            for name in names {
                do {
                    queues.append(try await inspector.status(of: name))
                } catch {
                    failures.append((error as? SpoolError)?.message ?? "\(error)")
                }
            }
            return (queues, failures)
        }
        if queues.isEmpty && failures.isEmpty {
            print("no queues (none registered under this prefix yet)")
            return
        }
        if !queues.isEmpty { print(Self.table(queues).render()) }
        if !failures.isEmpty { throw CLIError(failures.joined(separator: "; ")) }
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
                    Formatting.spoolCount(group, group.scheduledRetries + group.dueRetries),
                    Formatting.spoolCount(group, group.deadLetters), "\(alive)",
                ])
            }
        }
        return table
    }

    /// Redraws the queues with rates until SIGINT or SIGTERM, then returns (exit status 0).
    static func watch(_ connection: ConnectionOptions, every interval: DurationArgument) async throws {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let redraw = Terminal.stdoutIsTerminal
        try await withInspectorClient(connection) { inspector, client in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    for await _ in signals { return }
                }
                tasks.addTask {
                    var previous: QueueSample?
                    while !Task.isCancelled {
                        let frame: String
                        do {
                            let sample = try await QueueSample.take(inspector, client: client, since: previous)
                            frame = WatchFrame.render(
                                QueueRates(from: previous, to: sample), intervalText: "\(interval)", takenAt: sample.takenAtMillis
                            )
                            previous = sample
                        } catch where previous != nil {
                            // Once a reading worked, a failed one (Redis restarting, paused, a
                            // stray registry member) is shown and the next interval tries again;
                            // the first reading's error ends the command (the URL or the
                            // password is wrong). Ctrl-C during a reading shows nothing.
                            if Task.isCancelled { return }
                            frame = WatchFrame.failure(error, intervalText: "\(interval)", takenAt: Formatting.nowMillis())
                        }
                        StandardOutput.write(((redraw ? WatchFrame.clearAndHome : "") + frame + (redraw ? "" : "\n")).utf8)
                        try await Task.sleep(for: interval.duration)
                    }
                }
                // the first to end: a signal (stop quietly) or the loop's error (report it)
                defer { tasks.cancelAll() }
                try await tasks.next()
            }
        }
    }
}
