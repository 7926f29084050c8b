import Spool
import SpoolRedis

/// Every queue's status at one moment, with each stream's lifetime entries-added counter.
struct QueueSample: Sendable {
    var at: ContinuousClock.Instant
    var takenAtMillis: Int64
    var queues: [QueueStatus]
    /// `XINFO STREAM … entries-added` per queue (Redis 7+; `nil` on older servers).
    var entriesAdded: [String: Int]

    /// Reads every registered queue (what `spool queues` shows) plus `XINFO STREAM` per queue.
    static func take(_ inspector: SpoolInspector, client: RedisClient) async throws -> QueueSample {
        let queues = try await inspector.queues()
        var commands: [RedisCommand] = []
        for queue in queues {
            commands.append(RedisCommand("XINFO", "STREAM", try QueueKeys(queue: QueueName(queue.queue), prefix: inspector.prefix).stream))
        }
        let replies = commands.isEmpty ? [] : try await client.pipeline(commands)
        var added: [String: Int] = [:]
        for (queue, reply) in zip(queues, replies) {
            if let value = Dictionary(streamInfo: reply)["entries-added"]?.int { added[queue.queue] = value }
        }
        return QueueSample(at: .now, takenAtMillis: Formatting.nowMillis(), queues: queues, entriesAdded: added)
    }
}

/// Per-second rates between two samples. Counters that shrink (the dedup set expiring, dead
/// letters replayed or purged) count as no growth, never as a negative rate.
struct QueueRates: Sendable {
    struct Group: Sendable {
        var status: GroupStatus
        /// Done-set growth per second (jobs completed).
        var processedPerSecond: Double?
        /// Dead-letter growth per second.
        var failedPerSecond: Double?
    }

    struct Queue: Sendable {
        var status: QueueStatus
        var entriesAdded: Int?
        /// Stream entries-added growth per second.
        var enqueuedPerSecond: Double?
        var groups: [Group]
    }

    var intervalSeconds: Double
    var queues: [Queue]

    /// The rates from `previous` to `current`; without `previous`, the figures with no rates.
    init(from previous: QueueSample?, to current: QueueSample) {
        let seconds = previous.map { (current.at - $0.at).inSeconds } ?? 0
        intervalSeconds = seconds
        func rate(_ now: Int?, _ before: Int?) -> Double? {
            guard let now, let before, seconds > 0 else { return nil }
            return Double(max(0, now - before)) / seconds
        }
        let earlier = Dictionary((previous?.queues ?? []).map { ($0.queue, $0) }) { first, _ in first }
        queues = current.queues.map { queue in
            let old = earlier[queue.queue]
            let oldGroups = Dictionary((old?.groups ?? []).map { ($0.group, $0) }) { first, _ in first }
            return Queue(
                status: queue, entriesAdded: current.entriesAdded[queue.queue],
                enqueuedPerSecond: rate(current.entriesAdded[queue.queue], previous?.entriesAdded[queue.queue]),
                groups: queue.groups.map { group in
                    // no rates for a group without Spool keys (a name that breaks Spool's rule)
                    let old = group.hasValidName ? oldGroups[group.group] : nil
                    return Group(
                        status: group,
                        processedPerSecond: rate(group.completed, old?.completed),
                        failedPerSecond: rate(group.deadLetters, old?.deadLetters)
                    )
                }
            )
        }
    }
}

extension Dictionary where Key == String, Value == RESPValue {
    /// The field/value pairs of an `XINFO STREAM` reply (a flat array, or a RESP3 map).
    init(streamInfo reply: RESPValue) {
        self.init()
        let items = reply.array ?? []
        var index = 0
        while index + 1 < items.count {
            if let key = items[index].string { self[key] = items[index + 1] }
            index += 2
        }
    }
}
