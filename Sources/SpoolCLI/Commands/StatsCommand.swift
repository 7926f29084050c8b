import ArgumentParser
import Spool
import SpoolRedis

/// `spool stats --json`: the `queues --watch` figures, rates included, as one JSON document.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Queue figures with rates per second (enqueued, processed, failed) measured over --interval.",
        discussion: "Reads twice, --interval apart. Fields in docs/cli.md."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Required: print one JSON document (the only format for now; spool queues --watch is the terminal view).")
    var json = false

    @Option(parsing: .unconditional, help: ArgumentHelp("How long to measure rates over. Defaults to 1s.", valueName: "duration"))
    var interval: DurationArgument = DurationArgument(.seconds(1))

    func validate() throws {
        guard json else { throw ValidationError("pass --json (spool queues --watch is the terminal view)") }
        guard interval.duration > .zero else { throw ValidationError("--interval must be positive") }
    }

    func run() async throws {
        let (first, second) = try await withInspectorClient(connection) { inspector, client in
            let first = try await QueueSample.take(inspector, client: client)
            try await Task.sleep(for: interval.duration)
            return (first, try await QueueSample.take(inspector, client: client, since: first))
        }
        try JSONOutput.print(WatchFrame.json(QueueRates(from: first, to: second), takenAt: second.takenAtMillis))
    }
}
