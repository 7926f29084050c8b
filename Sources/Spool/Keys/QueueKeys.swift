/// The Redis keys of one queue (see `docs/wire-format.md`, "Keys").
///
/// Every key of a queue `Q` starts with `<prefix>:{Q}:`; `{Q}` is a Redis Cluster hash tag, so
/// all of a queue's keys live in one slot and its Lua scripts stay single-slot. Group names
/// appear in keys as plain text, never as hash tags. Only ``registry`` is shared by all queues.
public struct QueueKeys: Sendable, Hashable {
    /// The prefix used when none is given: `spool`.
    public static let defaultPrefix = "spool"

    /// The queue these keys belong to.
    public let queue: QueueName
    /// The prefix of every key, e.g. `spool`.
    public let prefix: String
    /// `<prefix>:{Q}:`, the start of every key of this queue.
    private let base: String
    /// The stream of jobs, `spool:{Q}:stream`; every group is a consumer group on it.
    public let stream: String

    /// The keys of `queue` under the default prefix `spool`.
    public init(queue: QueueName) {
        self.init(queue: queue, validatedPrefix: Self.defaultPrefix)
    }

    /// The keys of `queue` under `prefix`, so one Redis can host several apps (and an ACL can
    /// limit a user to `~<prefix>:*`).
    /// - Throws: ``SpoolError/Code/invalidArgument`` unless `prefix` is 1–100 characters of
    ///   `[A-Za-z0-9._:-]` (in particular it cannot contain a hash tag).
    public init(queue: QueueName, prefix: String) throws(SpoolError) {
        try NameRule.validate(prefix, kind: "key prefix", code: .invalidArgument)
        self.init(queue: queue, validatedPrefix: prefix)
    }

    private init(queue: QueueName, validatedPrefix prefix: String) {
        self.queue = queue
        self.prefix = prefix
        self.base = "\(prefix):{\(queue.rawValue)}:"
        self.stream = base + "stream"
    }

    /// The set of known queue names under `prefix`: `spool:queues` (not hash-tagged).
    public static func registry(prefix: String = defaultPrefix) -> String {
        "\(prefix):queues"
    }

    /// The set of known queue names: `spool:queues` (not hash-tagged; add each queue with SADD).
    public var registry: String { Self.registry(prefix: prefix) }

    /// The ZSET of jobs enqueued to run later, `spool:{Q}:delayed` (member: the job's fields
    /// as a msgpack array, score: due ms).
    public var delayed: String { base + "delayed" }

    /// The hash of queue settings and counters, `spool:{Q}:meta`.
    public var meta: String { base + "meta" }

    /// The dedup marker of an enqueue with dedup key `key`, `spool:{Q}:unique:<key>` (SET NX + TTL).
    public func dedupKey(_ key: String) -> String {
        base + "unique:" + key
    }

    /// The group's stream of retries that are due, `spool:{Q}:retry:G` (read beside ``stream``).
    public func retry(_ group: GroupName) -> String {
        base + "retry:" + group.rawValue
    }

    /// The group's ZSET of retries waiting for their backoff, `spool:{Q}:sched:G` (score: due ms).
    public func scheduled(_ group: GroupName) -> String {
        base + "sched:" + group.rawValue
    }

    /// The group's dead-letter stream, `spool:{Q}:dead:G`.
    public func dead(_ group: GroupName) -> String {
        base + "dead:" + group.rawValue
    }

    /// The group's dedup ZSET, `spool:{Q}:done:G`: job id -> completion time in ms (windowed).
    public func done(_ group: GroupName) -> String {
        base + "done:" + group.rawValue
    }


    /// The heartbeat of one consumer, `spool:{Q}:hb:G:<consumer>` (a key with a short TTL).
    public func heartbeat(_ group: GroupName, consumer: String) -> String {
        base + "hb:" + group.rawValue + ":" + consumer
    }
}
