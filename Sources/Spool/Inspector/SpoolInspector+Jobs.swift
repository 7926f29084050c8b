import SpoolRedis

extension SpoolInspector {
    /// How many stream entries a job lookup reads at most when the job id's time does not
    /// find it (ids that are not UUIDv7, delayed jobs, retry and dead-letter streams).
    public static let maxScannedEntries = 100_000

    /// The newest `count` entries of a queue's main stream, newest first.
    /// - Throws: ``SpoolError`` `unknownQueue` when the queue does not exist.
    public func recentEntries(queue: QueueName, count: Int) async throws(SpoolError) -> [QueueEntry] {
        let keys = try keys(queue)
        try await requireQueue(keys)
        guard count > 0 else { return [] }
        let reply = try await send(RedisCommand("XREVRANGE", keys.stream, "+", "-", "COUNT", String(count)), doing: "read entries of \(queue)")
        return StreamReply.entries(reply)
    }

    /// Finds a job by id: its envelope and, for every group, whether it is pending (and with
    /// whom), waiting for a retry, due in the retry stream, dead-lettered, done, or not there.
    ///
    /// A UUIDv7 id encodes its enqueue time, so the main stream is read around that time
    /// first; other lookups scan at most ``maxScannedEntries`` entries per stream.
    /// - Throws: ``SpoolError`` `unknownQueue` when the queue does not exist.
    public func job(queue: QueueName, id: String) async throws(SpoolError) -> JobReport {
        guard !id.isEmpty else { throw SpoolError(code: .invalidArgument, message: "empty job id") }
        let keys = try keys(queue)
        let status = try await status(of: queue)
        var report = JobReport(queue: queue.rawValue, jobID: id, fields: [:], source: nil, groups: [])
        if let entry = try await find(id, inStream: keys.stream, around: JobID(id)?.timestamp) {
            report.entryID = entry.entryID
            report.fields = entry.fields
            report.source = .stream
        } else if let (fields, dueAt) = try await findScheduled(id, in: keys.delayed, unreadable: &report.unreadable) {
            report.delayedUntil = dueAt
            report.fields = fields
            report.source = .delayed
        }
        for group in status.groups {
            var state = try await state(of: id, in: group, keys: keys, mainEntry: report.entryID, report: &report)
            state.hasValidName = group.hasValidName
            report.groups.append(state)
        }
        return report
    }

    private func state(
        of id: String, in status: GroupStatus, keys: QueueKeys, mainEntry: String?, report: inout JobReport
    ) async throws(SpoolError) -> JobGroupState {
        let name = status.group
        // pending in the main stream
        if let mainEntry, let pending = try await pendingInfo(keys.stream, group: name, entry: mainEntry) {
            var state = pending
            state.entryID = mainEntry
            return state
        }
        // a group made by hand whose name breaks Spool's rule has no Spool keys: only its
        // place in the main stream tells
        if let group = try? GroupName(name), let state = try await spoolState(of: id, in: group, keys: keys, report: &report) {
            return state
        }
        if let mainEntry, let entry = StreamID(mainEntry), let last = StreamID(status.lastDeliveredID) {
            return JobGroupState(group: name, state: entry > last ? .waiting : .acknowledged)
        }
        if report.source == .delayed { return JobGroupState(group: name, state: .waiting) }
        return JobGroupState(group: name, state: .notFound)
    }

    /// The state the group's own keys give: a retry due or scheduled, a dead letter, done; or `nil`.
    private func spoolState(
        of id: String, in group: GroupName, keys: QueueKeys, report: inout JobReport
    ) async throws(SpoolError) -> JobGroupState? {
        let name = group.rawValue
        // in the retry stream: pending (redelivered) or due
        if let entry = try await find(id, inStream: keys.retry(group), around: nil) {
            adopt(entry.fields, source: .retry, into: &report)
            if var pending = try await pendingInfo(keys.retry(group), group: name, entry: entry.entryID) {
                pending.entryID = entry.entryID
                pending.inRetryStream = true
                return pending
            }
            var state = JobGroupState(group: name, state: .retryDue)
            state.entryID = entry.entryID
            state.inRetryStream = true
            return state
        }
        if let (fields, dueAt) = try await findScheduled(id, in: keys.scheduled(group), unreadable: &report.unreadable) {
            adopt(fields, source: .scheduled, into: &report)
            var state = JobGroupState(group: name, state: .retryScheduled)
            state.retryAt = dueAt
            return state
        }
        if let letter = try await deadLetters(queue: keys.queue, group: group, filter: DeadLetterFilter(ids: [id]), limit: 1).first {
            adopt(letter.fields, source: .dead, into: &report)
            var state = JobGroupState(group: name, state: .deadLettered)
            state.deadLetter = letter
            return state
        }
        // the done set holds the id as its envelope wrote it: a UUID is asked in both cases
        let spellings = JobID(id) == nil ? [id] : Array(Set([id, id.lowercased(), id.uppercased()]))
        let scores = try await send(RedisCommand("ZMSCORE", [keys.done(group)] + spellings), doing: "read the done set of \(name)")
        if let text = scores.array?.lazy.compactMap(\.string).first, let millis = Double(text) {
            var state = JobGroupState(group: name, state: .done)
            // a score another client set may be anything a double holds, `inf` included
            state.doneAt = Int64(saturating: millis)
            return state
        }
        return nil
    }

    /// Keeps the first envelope found (the main stream's wins).
    private func adopt(_ fields: [String: String], source: JobReport.Source, into report: inout JobReport) {
        guard report.source == nil else { return }
        report.fields = fields.filter { !$0.key.hasPrefix("dead_") }
        report.source = source
    }

    /// The pending-entry record of one entry, as a `pending` state, or `nil`.
    private func pendingInfo(_ stream: String, group: String, entry: String) async throws(SpoolError) -> JobGroupState? {
        let reply = try await pipeline([RedisCommand("XPENDING", stream, group, entry, entry, "1")], doing: "read pending jobs of \(group)")
        guard let record = reply[0].array?.first?.array, record.count >= 4 else { return nil }
        var state = JobGroupState(group: group, state: .pending)
        state.consumer = record[1].string
        state.idleMilliseconds = record[2].int
        state.deliveries = record[3].int
        return state
    }

    /// Finds the entry whose `id` field is `id`: first within a minute of `around` (ms), then
    /// by scanning at most ``maxScannedEntries`` entries from the start.
    func find(_ id: String, inStream key: String, around: Int64?) async throws(SpoolError) -> QueueEntry? {
        if let around {
            let from = String(max(0, around - 60_000))
            let to = String(around + 60_000)
            if let found = try await scan(key, from: from, to: to, limit: Self.maxScannedEntries, where: { JobID.sameID($0.jobID, id) }) {
                return found
            }
        }
        return try await scan(key, from: "-", to: "+", limit: Self.maxScannedEntries, where: { JobID.sameID($0.jobID, id) })
    }

    private func scan(
        _ key: String, from: String, to: String, limit: Int, where matches: (QueueEntry) -> Bool
    ) async throws(SpoolError) -> QueueEntry? {
        var start = from
        var read = 0
        while read < limit {
            let reply = try await send(RedisCommand("XRANGE", key, start, to, "COUNT", "1000"), doing: "read \(key)")
            let entries = StreamReply.entries(reply)
            if let found = entries.first(where: matches) { return found }
            read += entries.count
            guard entries.count == 1000, let last = entries.last else { return nil }
            start = "(" + last.entryID
        }
        return nil
    }

    /// Finds a member of a schedule ZSET (MessagePack field lists) whose `id` field is `id`;
    /// adds to `unreadable` a message for each member holding `id` that is no such list.
    func findScheduled(_ id: String, in key: String, unreadable: inout [String]) async throws(SpoolError) -> ([String: String], Int64)? {
        let pattern = "*" + Self.globEscaped(id, anyCase: JobID(id) != nil) + "*"
        var cursor = "0"
        var rounds = 0
        repeat {
            let reply = try await send(RedisCommand("ZSCAN", key, cursor, "MATCH", pattern, "COUNT", "1000"), doing: "scan \(key)")
            guard let parts = reply.array, parts.count == 2 else { return nil }
            cursor = parts[0].string ?? "0"
            let items = parts[1].array ?? []
            var index = 0
            while index + 1 < items.count {
                if let bytes = items[index].bytes, let flat = MessagePackFields.decode(bytes) {
                    let entry = StreamReply.entry(id: "", flat: flat.map { .bulkString($0) })
                    if JobID.sameID(entry.jobID, id) {
                        // a score another client set may be anything a double holds, `inf` included
                        return (entry.fields, Int64(saturating: Double(items[index + 1].string ?? "") ?? 0))
                    }
                } else {
                    unreadable.append(
                        "\(key) holds a member containing \(id) that is not a MessagePack field list (another client wrote it): "
                            + "find it with ZSCAN \(key) 0 MATCH '\(pattern)' and remove it with ZREM"
                    )
                }
                index += 2
            }
            rounds += 1
        } while cursor != "0" && rounds < Self.maxScannedEntries / 1000
        return nil
    }

    /// Throws `unknownQueue` unless the queue has a stream or is registered.
    func requireQueue(_ keys: QueueKeys) async throws(SpoolError) {
        if try await send(RedisCommand("EXISTS", keys.stream), doing: "read queue \(keys.queue)").int != 1 {
            try await requireRegistered(keys)
        }
    }

    /// Throws `unknownQueue` unless the queue is in the registry set. Asked only when its
    /// stream is missing: on a cluster the registry may live on another master.
    func requireRegistered(_ keys: QueueKeys) async throws(SpoolError) {
        let member = try await send(RedisCommand("SISMEMBER", keys.registry, keys.queue.rawValue), doing: "read queue \(keys.queue)")
        if member.int != 1 {
            throw SpoolError.unknownQueue(keys.queue, prefix: prefix)
        }
    }

    /// `text` as a glob matching itself; with `anyCase`, each letter matches either case.
    static func globEscaped(_ text: String, anyCase: Bool = false) -> String {
        var result = ""
        for character in text {
            if anyCase, character.isLetter, character.lowercased() != character.uppercased() {
                result += "[" + character.lowercased() + character.uppercased() + "]"
                continue
            }
            if "*?[]\\".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}

extension SpoolError {
    /// The error for a queue with no stream that is not registered either.
    static func unknownQueue(_ queue: QueueName, prefix: String) -> SpoolError {
        SpoolError(
            code: .unknownQueue,
            message: "unknown queue \"\(queue)\": no such stream under prefix \"\(prefix)\"; list queues with `spool queues`"
        )
    }
}
