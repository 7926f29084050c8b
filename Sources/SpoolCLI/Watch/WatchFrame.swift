import Foundation
import Spool

/// One frame of `spool queues --watch`, and the JSON of `spool stats --json`.
enum WatchFrame {
    /// ANSI: cursor home, then clear the screen.
    static let clearAndHome = "\u{1B}[H\u{1B}[2J"

    /// The frame's text: a header line and one row per (queue, group).
    static func render(_ rates: QueueRates, intervalText: String, takenAt: Int64) -> String {
        var table = Table([
            .init(title: "QUEUE", maxWidth: 24),
            .init(title: "GROUP", maxWidth: 16),
            .init(title: "ENQ/S", alignRight: true, maxWidth: 9),
            .init(title: "DONE/S", alignRight: true, maxWidth: 9),
            .init(title: "DEAD/S", alignRight: true, maxWidth: 9),
            .init(title: "LAG", alignRight: true, maxWidth: 18),
            .init(title: "PENDING", alignRight: true, maxWidth: 8),
            .init(title: "DEAD", alignRight: true, maxWidth: 7),
        ])
        for queue in rates.queues {
            if queue.groups.isEmpty {
                table.append([queue.status.queue, "-", rate(queue.enqueuedPerSecond), "-", "-", "-", "-", "-"])
            }
            for (index, group) in queue.groups.enumerated() {
                table.append([
                    index == 0 ? queue.status.queue : "", group.status.group,
                    index == 0 ? rate(queue.enqueuedPerSecond) : "",
                    rate(group.processedPerSecond), rate(group.failedPerSecond),
                    Formatting.lag(group.status), "\(group.status.pending)", Formatting.spoolCount(group.status, group.status.deadLetters),
                ])
            }
        }
        let header = "spool queues — every \(intervalText) — \(Formatting.time(takenAt)) (Ctrl-C to quit)"
        let body = rates.queues.isEmpty ? "no queues (none registered under this prefix yet)" : table.render()
        return header + "\n\n" + body + "\n"
    }

    /// The frame for a reading that failed: the header, then the error in one line (terminal-safe).
    static func failure(_ error: any Error, intervalText: String, takenAt: Int64) -> String {
        let header = "spool queues — every \(intervalText) — \(Formatting.time(takenAt)) (Ctrl-C to quit)"
        let line = TerminalText.safe("\(error) (trying again every \(intervalText))").replacingOccurrences(of: "\n", with: "\\n")
        return header + "\n\n" + line + "\n"
    }

    static func rate(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    /// The `spool stats --json` document (fields in docs/cli.md).
    static func json(_ rates: QueueRates, takenAt: Int64) -> [String: Any] {
        func rounded(_ value: Double?) -> Any {
            value.map { ($0 * 1000).rounded() / 1000 as Any } ?? NSNull()
        }
        return [
            "measured_at": takenAt,
            "interval_seconds": (rates.intervalSeconds * 1000).rounded() / 1000,
            "queues": rates.queues.map { queue -> [String: Any] in
                [
                    "queue": queue.status.queue,
                    "length": queue.status.length,
                    "delayed": queue.status.delayed,
                    "entries_added": JSONOutput.value(queue.entriesAdded),
                    "enqueued_per_second": rounded(queue.enqueuedPerSecond),
                    "groups": queue.groups.map { group -> [String: Any] in
                        [
                            "group": group.status.group,
                            "pending": group.status.pending,
                            "lag": JSONOutput.value(group.status.lag),
                            "lag_seconds": (group.status.lagSeconds * 1000).rounded() / 1000,
                            "valid_name": group.status.hasValidName,
                            "dead_letters": JSONOutput.spoolCount(group.status, group.status.deadLetters),
                            "completed": JSONOutput.spoolCount(group.status, group.status.completed),
                            "scheduled_retries": JSONOutput.spoolCount(group.status, group.status.scheduledRetries),
                            "processed_per_second": rounded(group.processedPerSecond),
                            "failed_per_second": rounded(group.failedPerSecond),
                        ]
                    },
                ]
            },
        ]
    }
}
