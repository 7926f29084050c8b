/// Why a job was dead-lettered (the `dead_reason` field).
public enum DeadLetterReason: String, Sendable, CaseIterable {
    /// Every attempt failed.
    case retriesExhausted = "retries_exhausted"
    /// The handler threw ``NonRetryableError``.
    case nonRetryable = "non_retryable"
    /// The entry could not be read as a job (missing fields, bad version, oversize, ...).
    case malformed
    /// No handler is registered for the job's type in this group.
    case noHandler = "no_handler"
    /// Redis delivered it more often than its attempts allow: its worker kept dying.
    case maxDeliveries = "max_deliveries"
}

/// The fields a dead-letter entry adds to the job's own (all prefixed `dead_`).
struct DeadLetterRecord: Sendable {
    static let maxErrorBytes = 2_000
    /// Raw fields of an unreadable entry copied into its dead letter; the rest are counted.
    static let maxRawFields = 100

    let queue: QueueName
    let group: GroupName
    let entryID: String
    let worker: String
    let attempt: Int
    let reason: DeadLetterReason
    let error: String

    /// Writes the job's fields (the envelope as last attempted, or the raw entry when it is
    /// malformed) followed by the dead-letter fields.
    func encode(original: [[UInt8]], envelope: JobEnvelope?, into sink: inout some EnvelopeFieldSink) {
        let now = JobID.currentMillis()
        var firstError = error
        var firstFailedAt = now
        if var envelope {
            envelope.attempt = attempt
            if let recorded = envelope.firstFailure {
                firstError = recorded.error
                firstFailedAt = recorded.at
            }
            envelope.removeFirstFailure()
            envelope.encodeFields(into: &sink)
        } else {
            // an unreadable entry keeps its raw fields, up to a bound (a hostile entry may
            // have 100k of them; Lua could not even pass them on)
            var index = 0
            var kept = 0
            while index + 1 < original.count {
                if !original[index].starts(with: "dead_".utf8) && kept < Self.maxRawFields {
                    sink.appendField(original[index])
                    sink.appendField(original[index + 1])
                    kept += 1
                }
                index += 2
            }
            if original.count / 2 > kept {
                sink.appendField("dead_dropped_fields")
                sink.appendField(String(original.count / 2 - kept))
            }
            if original.count % 2 == 1 {
                sink.appendField("dead_odd_field")
                sink.appendField(original[original.count - 1])
            }
        }
        for (name, value) in [
            ("dead_reason", reason.rawValue),
            ("dead_error", Self.truncate(error)),
            ("dead_first_error", Self.truncate(firstError)),
            ("dead_first_failed_at", String(firstFailedAt)),
            ("dead_failed_at", String(now)),
            ("dead_attempts", String(attempt)),
            ("dead_queue", queue.rawValue),
            ("dead_group", group.rawValue),
            ("dead_entry", entryID),
            ("dead_worker", worker),
        ] {
            sink.appendField(name)
            sink.appendField(value)
        }
    }

    /// Cuts text to at most `maxErrorBytes` bytes of UTF-8, on a character boundary.
    static func truncate(_ text: String) -> String {
        guard text.utf8.count > maxErrorBytes else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > maxErrorBytes - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}

extension JobEnvelope {
    static let firstErrorField = Array("spool_first_error".utf8)
    static let firstFailedAtField = Array("spool_first_failed_at".utf8)

    /// The first failure carried through retries (fields `spool_first_error`, `spool_first_failed_at`).
    var firstFailure: (error: String, at: Int64)? {
        guard let error = extraFields.first(where: { $0.name == Self.firstErrorField }) else { return nil }
        let at = extraFields.first(where: { $0.name == Self.firstFailedAtField })
            .flatMap { Int64(String(decoding: $0.value, as: UTF8.self)) } ?? 0
        return (String(decoding: error.value, as: UTF8.self), at)
    }

    /// Records the first failure unless one is already recorded.
    mutating func recordFirstFailure(_ error: String) {
        guard firstFailure == nil else { return }
        extraFields.append(ExtraField(name: Self.firstErrorField, value: Array(DeadLetterRecord.truncate(error).utf8)))
        extraFields.append(ExtraField(name: Self.firstFailedAtField, value: Array(String(JobID.currentMillis()).utf8)))
    }

    mutating func removeFirstFailure() {
        extraFields.removeAll { $0.name == Self.firstErrorField || $0.name == Self.firstFailedAtField }
    }
}
