import SpoolRedis

extension SpoolInspector {
    /// Dead letters of a group, oldest first, that match `filter` (at most `limit`; none for a
    /// `limit` under 1).
    public func deadLetters(
        queue: QueueName, group: GroupName, filter: DeadLetterFilter = DeadLetterFilter(), limit: Int = 100
    ) async throws(SpoolError) -> [DeadLetter] {
        guard limit > 0 else { return [] }
        var found: [DeadLetter] = []
        try await scanDeadLetters(queue: queue, group: group) { page in
            for letter in page where filter.matches(letter) {
                found.append(letter)
                if found.count >= limit { return false }
            }
            return true
        }
        return found
    }

    /// One dead letter by its entry id or job id.
    public func deadLetter(queue: QueueName, group: GroupName, id: String) async throws(SpoolError) -> DeadLetter? {
        try await deadLetters(queue: queue, group: group, filter: DeadLetterFilter(ids: [id]), limit: 1).first
    }

    /// Moves matching dead letters (the default filter matches **every** one of the group)
    /// back to the group's retry stream: only this group runs
    /// them again, with attempts reset. Safe to interrupt and re-run (each move is atomic).
    ///
    /// A dead letter that holds only part of its entry (an unreadable entry with more than
    /// 100 fields, cut when it was dead-lettered: `dead_dropped_fields`) is kept back, as it
    /// would run as a different job; the others are replayed, then this throws saying how many
    /// were kept back.
    /// - Parameter progress: called with the running count after each batch.
    /// - Returns: how many were replayed.
    @discardableResult
    public func replayDeadLetters(
        queue: QueueName, group: GroupName, filter: DeadLetterFilter = DeadLetterFilter(),
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws(SpoolError) -> Int {
        let keys = try keys(queue)
        var keptBack: [String] = []   // only part of an unreadable entry
        var empty: [String] = []      // no job fields at all
        var failed: [(id: String, message: String)] = []   // Redis refused the move
        let replayed = try await forEachMatchingBatch(queue: queue, group: group, filter: filter, progress: progress) { ids throws(SpoolError) in
            // every reply is looked at, errors too: each move is its own script, so the others
            // of a batch went through and are counted
            // not sent again after a lost reply: run twice, a move finds its letter gone and is
            // not counted; the replay fails instead, and a rerun finds the moved ones gone
            let replies = try await pipeline(
                ids.map { id in
                    var move = RedisCommand.evalSHA(SpoolScripts.replay, keys: [keys.dead(group), keys.retry(group)], arguments: [id])
                    move.allowsResendAfterLostReply = false
                    return move
                },
                doing: "replay dead letters of \(queue)", tolerating: ""
            )
            var moved = 0
            for (id, reply) in zip(ids, replies) {
                switch reply {
                case .bulkString: moved += 1  // the new retry entry's id
                case .integer(-1): keptBack.append(id)
                case .integer(-2): empty.append(id)
                case .error(let message) where !message.hasPrefix("NOGROUP") && !message.hasPrefix("ERR no such key"):
                    failed.append((id, message))
                default: break  // gone meanwhile (replayed or purged by someone else)
                }
            }
            return moved
        }
        func sample(_ ids: [String]) -> String {
            ids.prefix(3).joined(separator: ", ") + (ids.count > 3 ? ", …" : "")
        }
        var reasons: [String] = []
        if !keptBack.isEmpty {
            reasons.append("\(keptBack.count) holding only part of an unreadable entry (dead_dropped_fields: \(sample(keptBack))), "
                + "which would run as a different job")
        }
        if !empty.isEmpty {
            reasons.append("\(empty.count) holding no job fields at all (\(sample(empty)))")
        }
        if let first = failed.first {
            let others = reasons.isEmpty ? "" : "; kept back " + reasons.joined(separator: "; ")
            let cause = RedisError.reply(first.message, address: client.redactedAddress)
            throw SpoolError(
                code: .redis,
                message: "replayed \(replayed) dead letters of \(queue); \(failed.count) could not be moved (\(sample(failed.map(\.id))); "
                    + "the first: \(cause))\(others). Each move is atomic, so none was lost or doubled: fix the cause and run "
                    + "the replay again for those",
                underlying: cause
            )
        }
        if !reasons.isEmpty {
            let count = keptBack.count + empty.count
            throw SpoolError(
                code: .invalidArgument,
                message: "replayed \(replayed); kept back \(count) dead letter\(count == 1 ? "" : "s") of \(queue): "
                    + reasons.joined(separator: "; ")
                    + ": read them with `spool dlq show`, enqueue what they should have been, then purge them"
            )
        }
        return replayed
    }

    /// Deletes matching dead letters. Safe to interrupt and re-run. The default filter
    /// matches **every** dead letter of the group.
    /// - Returns: how many were deleted.
    @discardableResult
    public func purgeDeadLetters(
        queue: QueueName, group: GroupName, filter: DeadLetterFilter = DeadLetterFilter(),
        progress: @Sendable (Int) -> Void = { _ in }
    ) async throws(SpoolError) -> Int {
        let keys = try keys(queue)
        return try await forEachMatchingBatch(queue: queue, group: group, filter: filter, progress: progress) { ids throws(SpoolError) in
            try await send(RedisCommand("XDEL", [keys.dead(group)] + ids), doing: "purge dead letters of \(queue)").int ?? 0
        }
    }

    /// Collects matching entry ids page by page and applies `body` to each page's matches.
    private func forEachMatchingBatch(
        queue: QueueName, group: GroupName, filter: DeadLetterFilter, progress: @Sendable (Int) -> Void,
        _ body: ([String]) async throws(SpoolError) -> Int
    ) async throws(SpoolError) -> Int {
        // collect first, then act: acting while scanning would move the scan's cursor
        var matching: [String] = []
        try await scanDeadLetters(queue: queue, group: group) { page in
            matching += page.filter(filter.matches).map(\.entryID)
            return true
        }
        var done = 0
        var index = 0
        while index < matching.count {
            let batch = Array(matching[index..<min(index + 100, matching.count)])
            done += try await body(batch)
            index += batch.count
            progress(done)
        }
        return done
    }

    /// Reads the dead-letter stream in pages of 100 until `visit` returns false.
    private func scanDeadLetters(
        queue: QueueName, group: GroupName, _ visit: ([DeadLetter]) -> Bool
    ) async throws(SpoolError) {
        let stream = try keys(queue).dead(group)
        var start = "-"
        while true {
            let reply = try await send(RedisCommand("XRANGE", stream, start, "+", "COUNT", "100"), doing: "read dead letters of \(queue)")
            let entries = reply.array ?? []
            if entries.isEmpty { return }
            var page: [DeadLetter] = []
            for entry in entries {
                guard let parts = entry.array, parts.count == 2, let id = parts[0].string else { continue }
                var fields: [String: String] = [:]
                let values = parts[1].array ?? []
                var index = 0
                while index + 1 < values.count {
                    fields[values[index].string ?? ""] = values[index + 1].string ?? ""
                    index += 2
                }
                page.append(DeadLetter(entryID: id, fields: fields))
            }
            if !visit(page) || entries.count < 100 { return }
            start = "(" + (page.last?.entryID ?? "+")
        }
    }
}
