import Spool
import SpoolRedis

/// Every queue's status at one moment, with the lifetime counters the rates are taken from.
struct QueueSample: Sendable {
    var at: ContinuousClock.Instant
    /// This host's clock when the sample was taken: the upper bound of the done-set count.
    var takenAtMillis: Int64
    var queues: [QueueStatus]
    /// `XINFO STREAM … entries-added` per queue (Redis 7+; `nil` on older servers).
    var entriesAdded: [String: Int]
    /// `XINFO STREAM … entries-added` of each group's dead-letter stream, by ``groupKey(_:_:)``:
    /// unlike its length, it does not shrink when letters are replayed or purged.
    var deadLettersAdded: [String: Int]
    /// Per group, the done-set members scored after the previous sample's ``takenAtMillis`` and
    /// up to this one's: the jobs completed in between (empty for a first sample). The set's
    /// size cannot tell: each acknowledgement also drops the ids older than the dedup window,
    /// so once a worker has run that long, it stays flat however busy the queue is.
    var completedSince: [String: Int]

    static func groupKey(_ queue: String, _ group: String) -> String { queue + "\u{0}" + group }

    /// Reads every registered queue (what `spool queues` shows) plus `XINFO STREAM` per queue and
    /// per dead-letter stream, and with `previous`, the jobs each group completed since then.
    static func take(_ inspector: SpoolInspector, client: RedisClient, since previous: QueueSample? = nil) async throws -> QueueSample {
        let queues = try await inspector.queues()
        let takenAt = Formatting.nowMillis()
        var commands: [RedisCommand] = []
        var reading: [(kind: Reading, key: String)] = []
        for queue in queues {
            let keys = try QueueKeys(queue: QueueName(queue.queue), prefix: inspector.prefix)
            commands.append(RedisCommand("XINFO", "STREAM", keys.stream))
            reading.append((.entriesAdded, queue.queue))
            // a group whose name breaks Spool's rule has no Spool keys
            for group in queue.groups where group.hasValidName {
                let name = try GroupName(group.group)
                commands.append(RedisCommand("XINFO", "STREAM", keys.dead(name)))
                reading.append((.deadLettersAdded, groupKey(queue.queue, group.group)))
                if let previous {
                    commands.append(RedisCommand("ZCOUNT", keys.done(name), "(\(previous.takenAtMillis)", "\(takenAt)"))
                    reading.append((.completedSince, groupKey(queue.queue, group.group)))
                }
            }
        }
        let replies = commands.isEmpty ? [] : try await client.pipeline(commands)
        var sample = QueueSample(
            at: .now, takenAtMillis: takenAt, queues: queues, entriesAdded: [:], deadLettersAdded: [:], completedSince: [:]
        )
        for ((kind, key), reply) in zip(reading, replies) {
            switch kind {
            case .entriesAdded:
                // an error reply (no such stream yet: a dead-letter stream before its first letter) leaves it out
                if let value = Dictionary(streamInfo: reply)["entries-added"]?.int { sample.entriesAdded[key] = value }
            case .deadLettersAdded:
                sample.deadLettersAdded[key] = Dictionary(streamInfo: reply)["entries-added"]?.int ?? 0
            case .completedSince:
                if let value = reply.int { sample.completedSince[key] = value }
            }
        }
        return sample
    }

    private enum Reading { case entriesAdded, deadLettersAdded, completedSince }
}

/// Per-second rates between two samples. A lifetime counter that shrinks (a stream deleted and
/// made again) counts as no growth, never as a negative rate.
struct QueueRates: Sendable {
    struct Group: Sendable {
        var status: GroupStatus
        /// Jobs completed per second: done-set members scored in the interval (needs dedup,
        /// Spool's default; with dedup off nothing is recorded and it reads 0).
        var processedPerSecond: Double?
        /// Dead letters added per second (`entries-added` of the dead-letter stream).
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

    /// The rates from `previous` to `current` (taken `since: previous`); without `previous`, the
    /// figures with no rates.
    init(from previous: QueueSample?, to current: QueueSample) {
        let seconds = previous.map { (current.at - $0.at).inSeconds } ?? 0
        intervalSeconds = seconds
        func rate(_ now: Int?, _ before: Int?) -> Double? {
            guard let now, let before, seconds > 0 else { return nil }
            return Double(max(0, now - before)) / seconds
        }
        let known = Set((previous?.queues ?? []).flatMap { queue in queue.groups.map { QueueSample.groupKey(queue.queue, $0.group) } })
        queues = current.queues.map { queue in
            Queue(
                status: queue, entriesAdded: current.entriesAdded[queue.queue],
                enqueuedPerSecond: rate(current.entriesAdded[queue.queue], previous?.entriesAdded[queue.queue]),
                groups: queue.groups.map { group in
                    // no rates for a group without Spool keys (a name that breaks Spool's rule),
                    // nor for one the previous sample did not have
                    let key = QueueSample.groupKey(queue.queue, group.group)
                    guard group.hasValidName, known.contains(key) else { return Group(status: group) }
                    return Group(
                        status: group,
                        processedPerSecond: rate(current.completedSince[key], 0),
                        failedPerSecond: rate(current.deadLettersAdded[key], previous?.deadLettersAdded[key])
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
