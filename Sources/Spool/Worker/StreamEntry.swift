import SpoolRedis

/// One stream entry delivered to this worker.
struct StreamEntry: Sendable {
    /// Which of the group's two streams it came from.
    enum Source: Sendable, Hashable {
        case main
        case retry
    }

    /// An entry's identity within the subscription: ids of the main and the retry stream
    /// are made independently and can be equal.
    struct Key: Sendable, Hashable {
        let source: Source
        let id: StreamID
    }

    /// The Redis stream entry id.
    let id: StreamID
    let source: Source
    /// The entry's fields, flat (`name, value, ...`); `nil` when the entry was deleted while pending.
    let fields: [[UInt8]]?
    /// How many times Redis delivered it (1 for a fresh read).
    let deliveries: Int

    var key: Key { Key(source: source, id: id) }

    /// The streams of an XREADGROUP reply, `[[key, [[id, [f, v, ...]], ...]], ...]` (none for
    /// nil or an error), each as its key and its items in order; malformed parts are skipped.
    static func readStreams(_ reply: RESPValue) -> some Sequence<(key: RESPValue, items: [RESPValue])> {
        let streams: [RESPValue]
        if case .array(let values) = reply { streams = values } else { streams = [] }
        return streams.lazy.compactMap { stream -> (key: RESPValue, items: [RESPValue])? in
            guard case .array(let pair) = stream, pair.count == 2, case .array(let items) = pair[1] else { return nil }
            return (pair[0], items)
        }
    }

    /// Parses the reclaim script's reply: `[[id, deliveries, fields | false], ...]`.
    static func parseReclaimed(_ reply: RESPValue, source: Source) -> [StreamEntry] {
        guard let items = reply.array else { return [] }
        return items.compactMap { item in
            guard let parts = item.array, parts.count == 3, let id = StreamID(parts[0]) else { return nil }
            return StreamEntry(id: id, source: source, fields: flatten(parts[2]), deliveries: parts[1].int ?? 1)
        }
    }

    fileprivate static func flatten(_ value: RESPValue) -> [[UInt8]]? {
        guard let values = value.array else { return nil }
        var fields: [[UInt8]] = []
        fields.reserveCapacity(values.count)
        for value in values { fields.append(value.bytes ?? []) }
        return fields
    }
}

extension StreamEntry {
    /// One entry of a read, `[id, fields]`, delivered for the first time (fields `nil` when
    /// Redis gives none: a deleted entry); `nil` if it has no id.
    init?(readItem item: RESPValue, source: Source) {
        guard let parts = item.array, (1...2).contains(parts.count), let id = StreamID(parts[0]) else { return nil }
        self.init(id: id, source: source, fields: parts.count == 2 ? Self.flatten(parts[1]) : nil, deliveries: 1)
    }
}
