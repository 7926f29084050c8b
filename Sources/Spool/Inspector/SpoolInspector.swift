import SpoolRedis

/// Reads queue state and repairs dead letters: what the `spool` CLI is built on.
public struct SpoolInspector: Sendable {
    let client: RedisClient
    /// The key prefix of the queues it reads.
    public let prefix: String

    /// Creates an inspector for the queues under `prefix`.
    public init(client: RedisClient, prefix: String = QueueKeys.defaultPrefix) {
        self.client = client
        self.prefix = prefix
    }

    func keys(_ queue: QueueName) throws(SpoolError) -> QueueKeys {
        try QueueKeys(queue: queue, prefix: prefix)
    }

    /// The known queues (the registry set producers and workers add to), sorted; members
    /// that are no queue name (another client added them) are left out: see ``registry()``.
    public func queueNames() async throws(SpoolError) -> [QueueName] {
        try await registry().queues
    }

    /// The registry set: its queue names, sorted, and for each member that is not a valid
    /// queue name (only another client can have added one) a one-line message saying how to
    /// remove it.
    /// - Throws: ``SpoolError`` (code `invalidArgument`) for a prefix that breaks the key rule,
    ///   as every other reading does (through ``QueueKeys``).
    public func registry() async throws(SpoolError) -> (queues: [QueueName], invalid: [String]) {
        // the registry is the one key not made through QueueKeys, which checks the prefix
        try NameRule.validate(prefix, kind: "key prefix", code: .invalidArgument)
        let key = QueueKeys.registry(prefix: prefix)
        let reply = try await send(RedisCommand("SMEMBERS", key), doing: "list queues")
        var queues: [QueueName] = []
        var invalid: [String] = []
        for member in reply.array ?? [] {
            let text = member.string ?? ""
            if let name = try? QueueName(text) {
                queues.append(name)
            } else {
                invalid.append(
                    "the registry \(key) holds \(SpoolError.quoted(text)), which is not a queue name (1-100 characters of "
                        + "A-Z a-z 0-9 . _ : -): another client added it; remove it with SREM \(key) <that member>"
                )
            }
        }
        return (queues.sorted(), invalid.sorted())
    }

    /// The status of every known queue.
    /// - Throws: ``SpoolError`` `invalidArgument` when the registry holds a member that is not
    ///   a queue name (``registry()``), as the list would be incomplete.
    public func queues() async throws(SpoolError) -> [QueueStatus] {
        let (names, invalid) = try await registry()
        if let first = invalid.first { throw SpoolError(code: .invalidArgument, message: first) }
        var result: [QueueStatus] = []
        for name in names {
            result.append(try await status(of: name))
        }
        return result
    }

    /// One queue's status.
    /// - Throws: ``SpoolError`` `unknownQueue` when the queue has no stream and is not registered.
    public func status(of queue: QueueName) async throws(SpoolError) -> QueueStatus {
        let keys = try keys(queue)
        let head = try await pipeline([
            RedisCommand("TYPE", keys.stream),
            RedisCommand("XLEN", keys.stream),
            RedisCommand("ZCARD", keys.delayed),
            RedisCommand("HGET", keys.meta, "dropped_by_cap"),
            RedisCommand("XINFO", "GROUPS", keys.stream),
        ], doing: "read queue \(queue)", tolerating: "WRONGTYPE")
        let type = head[0].string ?? "none"
        // the registry (another slot on a cluster, maybe another master) only when the stream
        // is missing: a queue's status then needs the queue's own master alone
        if type == "none" {
            try await requireRegistered(keys)
        }
        if type != "none" && type != "stream" {
            throw SpoolError(
                code: .redis,
                message: "key \(keys.stream) holds a \(type), not a stream: another application uses Spool's key prefix; rename or delete that key, or give Spool another key prefix (`--prefix` in the CLI)"
            )
        }
        // the stream is fine, so a WRONGTYPE came from another of the queue's keys
        if let failure = head.lazy.compactMap(\.errorMessage).first(where: { $0.hasPrefix("WRONGTYPE") }) {
            throw SpoolError.redis(RedisError.reply(failure, address: client.redactedAddress), doing: "read queue \(queue)")
        }
        var groups: [GroupStatus] = []
        for record in head[4].array ?? [] {
            groups.append(try await groupStatus(keys, info: map(record)))
        }
        return QueueStatus(
            queue: queue.rawValue, length: head[1].int ?? 0, delayed: head[2].int ?? 0,
            droppedByCap: head[3].int ?? 0, groups: groups.sorted { $0.group < $1.group }
        )
    }

    private func groupStatus(_ keys: QueueKeys, info: [String: RESPValue]) async throws(SpoolError) -> GroupStatus {
        let name = info["name"]?.string ?? ""
        let lastDelivered = info["last-delivered-id"]?.string ?? "0-0"
        // a group made by hand (XGROUP CREATE) may have a name Spool's rule refuses: no Spool
        // worker serves it and it has no retry, dead-letter or done keys, so only what Redis
        // keeps for the stream is read (never another group's keys, as `default`'s once were)
        let group = try? GroupName(name)
        var commands = [
            RedisCommand("XRANGE", keys.stream, "(" + lastDelivered, "+", "COUNT", "1"),
            RedisCommand("XPENDING", keys.stream, name),
            RedisCommand("XINFO", "CONSUMERS", keys.stream, name),
        ]
        if let group {
            commands += [
                RedisCommand("ZCARD", keys.scheduled(group)),
                RedisCommand("XLEN", keys.retry(group)),
                RedisCommand("XLEN", keys.dead(group)),
                RedisCommand("ZCARD", keys.done(group)),
                RedisCommand("XPENDING", keys.retry(group), name),
                RedisCommand("XRANGE", keys.retry(group), "-", "+", "COUNT", "1"),
            ]
        }
        let replies = try await pipeline(commands, doing: "read group \(name) of queue \(keys.queue)")
        // the Spool-side replies, all `nil` for a group without Spool keys
        let spool: [RESPValue?] = group == nil ? Array(repeating: nil, count: 6) : replies[3...].map { $0 }
        let (scheduled, retryLength, dead, done) = (spool[0], spool[1], spool[2], spool[3])
        let (retryPendingReply, firstRetry) = (spool[4], spool[5])
        // The oldest unfinished job: the first undelivered entry, the oldest pending one, or
        // the oldest entry of the retry stream (a due retry, waiting since it became due, or
        // one running again: the stream holds nothing else, as its entries are deleted when
        // acknowledged). Retries still waiting for their backoff do not count.
        var oldest = replies[0].array?.first?.array?.first.flatMap(StreamID.init)
        for candidate in [replies[1].array?.dropFirst().first, firstRetry?.array?.first?.array?.first] {
            guard let id = candidate.flatMap(StreamID.init) else { continue }
            oldest = oldest.map { min($0, id) } ?? id
        }
        let now = JobID.currentMillis()
        let lagSeconds = oldest.map { max(0, Double(now - $0.unixMilliseconds) / 1000) } ?? 0

        var consumers: [ConsumerStatus] = []
        let consumerRecords = (replies[2].array ?? []).map(map)
        var retryPending: [String: Int] = [:]
        for pair in retryPendingReply?.array?.dropFirst(3).first?.array ?? [] {
            if let parts = pair.array, parts.count == 2, let owner = parts[0].string { retryPending[owner] = parts[1].int ?? 0 }
        }
        if !consumerRecords.isEmpty {
            let names = consumerRecords.map { $0["name"]?.string ?? "" }
            // a group without Spool keys has no heartbeats: no Spool worker serves it
            var alive: [RESPValue] = []
            if let group {
                alive = try await pipeline(names.map { RedisCommand("EXISTS", keys.heartbeat(group, consumer: $0)) }, doing: "read workers")
            }
            for (index, record) in consumerRecords.enumerated() {
                consumers.append(ConsumerStatus(
                    name: names[index], pending: (record["pending"]?.int ?? 0) + (retryPending[names[index]] ?? 0),
                    idleMilliseconds: record["idle"]?.int ?? 0, alive: alive.indices.contains(index) && alive[index].int == 1
                ))
            }
        }
        let retriesPending = retryPendingReply?.array?.first?.int ?? 0
        return GroupStatus(
            group: name, pending: (info["pending"]?.int ?? 0) + retriesPending,
            lag: info["lag"]?.int, lagSeconds: lagSeconds, scheduledRetries: scheduled?.int ?? 0,
            dueRetries: max(0, (retryLength?.int ?? 0) - retriesPending),
            deadLetters: dead?.int ?? 0, completed: done?.int ?? 0, lastDeliveredID: lastDelivered,
            consumers: consumers, hasValidName: group != nil
        )
    }

    func map(_ reply: RESPValue) -> [String: RESPValue] {
        Dictionary(pairs: reply)
    }

    func send(_ command: RedisCommand, doing: String) async throws(SpoolError) -> RESPValue {
        do {
            return try await client.send(command)
        } catch {
            throw SpoolError.redis(error, doing: doing)
        }
    }

    /// Sends `commands` in one pipeline. Error replies fail the call, except `NOGROUP` and
    /// `ERR no such key` (a group or stream that does not exist yet) and those starting with
    /// `tolerating`, which the caller checks itself.
    func pipeline(_ commands: [RedisCommand], doing: String, tolerating: String? = nil) async throws(SpoolError) -> [RESPValue] {
        do {
            let replies = try await client.pipeline(commands)
            if let failure = replies.lazy.compactMap(\.errorMessage).first(where: {
                !$0.hasPrefix("NOGROUP") && !$0.hasPrefix("ERR no such key") && !(tolerating.map($0.hasPrefix) ?? false)
            }) {
                throw RedisError.reply(failure, address: client.redactedAddress)
            }
            return replies
        } catch {
            throw SpoolError.redis(error, doing: doing)
        }
    }
}
