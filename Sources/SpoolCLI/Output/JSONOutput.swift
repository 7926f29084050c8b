import Foundation
import Spool

/// The `--json` documents. Field names are snake_case and documented in `docs/cli.md`;
/// times are Unix milliseconds (`*_at`), spans are `*_seconds` or `*_ms`; absent values are `null`.
enum JSONOutput {
    /// Prints one JSON document on stdout.
    static func print(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        StandardOutput.write(Array(escapingDELAndC1(data).utf8) + [UInt8(ascii: "\n")])
    }

    /// `json` with DEL and the C1 controls (U+007F to U+009F) escaped as `\u009b`: JSON allows
    /// them raw, and JSONSerialization leaves them so, but a terminal may act on them. They can
    /// only be inside strings, where the escape means the same character.
    static func escapingDELAndC1(_ json: Data) -> String {
        TerminalText.escaping(String(decoding: json, as: UTF8.self)) { $0.value >= 0x7F && TerminalText.isControl($0) }
    }

    static func value(_ optional: (some Any)?) -> Any {
        optional.map { $0 as Any } ?? NSNull()
    }

    static func queue(_ status: QueueStatus) -> [String: Any] {
        [
            "queue": status.queue,
            "length": status.length,
            "delayed": status.delayed,
            "dropped_by_cap": status.droppedByCap,
            "groups": status.groups.map(group),
        ]
    }

    /// A count read from the group's Spool keys: null for a group without them (a name that
    /// breaks Spool's rule, made by hand).
    static func spoolCount(_ group: GroupStatus, _ count: Int) -> Any {
        group.hasValidName ? count : NSNull()
    }

    static func group(_ group: GroupStatus) -> [String: Any] {
        [
            "group": group.group,
            "valid_name": group.hasValidName,
            "pending": group.pending,
            "lag": value(group.lag),
            "lag_seconds": (group.lagSeconds * 1000).rounded() / 1000,
            "scheduled_retries": spoolCount(group, group.scheduledRetries),
            "due_retries": spoolCount(group, group.dueRetries),
            "dead_letters": spoolCount(group, group.deadLetters),
            "completed": spoolCount(group, group.completed),
            "last_delivered_id": group.lastDeliveredID,
            "consumers": group.consumers.map { consumer in
                [
                    "name": consumer.name,
                    "pending": consumer.pending,
                    "idle_ms": consumer.idleMilliseconds,
                    "alive": consumer.alive,
                ] as [String: Any]
            },
        ]
    }

    static func entry(_ entry: QueueEntry) -> [String: Any] {
        [
            "entry_id": entry.entryID,
            "job_id": value(entry.jobID),
            "type": value(entry.type),
            "enqueued_at": value(entry.enqueuedAt),
            "attempt": value(entry.attempt),
            "payload_bytes": entry.payloadBytes,
        ]
    }

    static func deadLetter(_ letter: DeadLetter) -> [String: Any] {
        [
            "entry_id": letter.entryID,
            "job_id": value(letter.jobID),
            "type": value(letter.type),
            "payload": value(letter.payload),
            "attempts": value(letter.attempts),
            "reason": letter.reason,
            "error": letter.error,
            "first_error": value(letter.firstError),
            "failed_at": value(letter.failedAt),
            "first_failed_at": value(letter.firstFailedAt),
            "worker": value(letter.worker),
            "original_entry_id": value(letter.originalEntryID),
            "fields": letter.fields,
        ]
    }

    static func job(_ report: JobReport) -> [String: Any] {
        [
            "queue": report.queue,
            "job_id": report.jobID,
            "found": report.isFound,
            "entry_id": value(report.entryID),
            "delayed_until": value(report.delayedUntil),
            "source": value(report.source?.rawValue),
            "envelope": report.source == nil ? NSNull() : report.fields as Any,
            "unreadable": report.unreadable,
            "groups": report.groups.map { state in
                [
                    "group": state.group,
                    "valid_name": state.hasValidName,
                    "state": state.state.rawValue,
                    "consumer": value(state.consumer),
                    "idle_ms": value(state.idleMilliseconds),
                    "deliveries": value(state.deliveries),
                    "entry_id": value(state.entryID),
                    "in_retry_stream": state.inRetryStream,
                    "retry_at": value(state.retryAt),
                    "done_at": value(state.doneAt),
                    "dead_letter": value(state.deadLetter.map(deadLetter)),
                ] as [String: Any]
            },
        ]
    }
}
