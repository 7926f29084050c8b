/// A queue's state: its stream and every group reading it.
public struct QueueStatus: Sendable, Codable, Hashable {
    /// The queue name.
    public var queue: String
    /// Entries in the main stream (including ones groups are done with but not yet trimmed).
    public var length: Int
    /// Jobs pushed with a delay that are not due yet.
    public var delayed: Int
    /// Entries the stream's hard cap dropped (0 unless `maxStreamLength` is set).
    public var droppedByCap: Int
    /// One record per consumer group.
    public var groups: [GroupStatus]
}

/// One group's progress on a queue.
public struct GroupStatus: Sendable, Codable, Hashable {
    /// The group name.
    public var group: String
    /// Jobs delivered to a worker and not yet finished.
    public var pending: Int
    /// Jobs not yet delivered to any worker of the group; `nil` when Redis cannot tell.
    public var lag: Int?
    /// Age in seconds of the oldest job the group has not finished (pending or undelivered).
    public var lagSeconds: Double
    /// Failed jobs waiting for their retry time (0 without ``hasValidName``).
    public var scheduledRetries: Int
    /// Retries that are due and waiting in the group's retry stream (0 without ``hasValidName``).
    public var dueRetries: Int
    /// Jobs in the group's dead-letter stream (0 without ``hasValidName``).
    public var deadLetters: Int
    /// Job ids in the dedup set (completed within the dedup window; 0 without ``hasValidName``).
    public var completed: Int
    /// The last stream entry id delivered to the group.
    public var lastDeliveredID: String
    /// The group's workers (Redis consumers).
    public var consumers: [ConsumerStatus]
    /// Whether the name keeps Spool's group-name rule. A group made by hand (`XGROUP CREATE`)
    /// with another name has no Spool keys and no Spool worker: its `pending`, `lag`,
    /// `lagSeconds` and consumers are what Redis keeps for the main stream, its retry,
    /// dead-letter and done counts are 0 without meaning, and no consumer is `alive`.
    public var hasValidName: Bool
}

/// One worker (Redis consumer) of a group.
public struct ConsumerStatus: Sendable, Codable, Hashable {
    /// The consumer name (`host-pid-random`).
    public var name: String
    /// Jobs it holds (main and retry streams).
    public var pending: Int
    /// Milliseconds since it last read.
    public var idleMilliseconds: Int
    /// Whether its heartbeat is live.
    public var alive: Bool
}
