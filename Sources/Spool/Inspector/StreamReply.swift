import SpoolRedis

/// Parses stream replies (XRANGE, XREVRANGE) into entries.
enum StreamReply {
    /// The entries of an XRANGE-style reply: `[[id, [name, value, ...]], ...]`.
    static func entries(_ reply: RESPValue) -> [QueueEntry] {
        var result: [QueueEntry] = []
        for item in reply.array ?? [] {
            guard let parts = item.array, parts.count == 2, let id = parts[0].string else { continue }
            result.append(Self.entry(id: id, flat: parts[1].array ?? []))
        }
        return result
    }

    /// An entry from its id and a flat `[name, value, ...]` list.
    static func entry(id: String, flat values: [RESPValue]) -> QueueEntry {
        var fields: [String: String] = [:]
        var payloadBytes = 0
        var index = 0
        while index + 1 < values.count {
            let name = values[index].string ?? ""
            fields[name] = values[index + 1].string ?? ""
            if name == "payload" { payloadBytes = values[index + 1].bytes?.count ?? 0 }
            index += 2
        }
        return QueueEntry(entryID: id, fields: fields, payloadBytes: payloadBytes)
    }
}
