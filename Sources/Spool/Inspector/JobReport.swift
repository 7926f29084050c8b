/// Where one job is: its envelope and its state in every group of its queue.
public struct JobReport: Sendable, Hashable {
    /// Where the envelope shown was read from.
    public enum Source: String, Sendable, Hashable {
        /// The queue's main stream.
        case stream
        /// The delayed-jobs ZSET (not yet due).
        case delayed
        /// A group's retry stream.
        case retry
        /// A group's retry schedule.
        case scheduled
        /// A group's dead-letter stream.
        case dead
    }

    /// The queue name.
    public var queue: String
    /// The job id asked for.
    public var jobID: String
    /// The job's entry id in the main stream; `nil` when it is not (or no longer) there.
    public var entryID: String?
    /// When the job is delayed and not yet in the stream: its due time, Unix milliseconds.
    public var delayedUntil: Int64?
    /// The job's fields as text (`id`, `type`, `payload`, `enqueued_at`, `attempt`, ...).
    public var fields: [String: String]
    /// Where ``fields`` were read from.
    public var source: Source?
    /// The job's state in each group, sorted by group name.
    public var groups: [JobGroupState]
    /// One message for each member of a delayed or retry schedule that holds the job id but
    /// cannot be read (not a MessagePack field list: another client wrote it), saying where
    /// it is; such a member is not taken as the job.
    public var unreadable: [String] = []

    /// Whether the job was found anywhere.
    public var isFound: Bool {
        source != nil || groups.contains { $0.state != .notFound }
    }
}

/// One group's view of a job.
public struct JobGroupState: Sendable, Hashable {
    /// What the group is doing with the job, first match in this order.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Delivered to a consumer and not finished.
        case pending
        /// A retry that is due, waiting in the group's retry stream.
        case retryDue = "retry_due"
        /// A failed attempt; the next one waits for its backoff.
        case retryScheduled = "retry_scheduled"
        /// Parked in the group's dead-letter stream.
        case deadLettered = "dead_lettered"
        /// Completed (in the group's dedup set).
        case done
        /// In the stream, not yet delivered to the group.
        case waiting
        /// Delivered and acknowledged, with no record left (dedup off or its window passed).
        case acknowledged
        /// Not found in any of the group's keys.
        case notFound = "not_found"
    }

    /// The group name.
    public var group: String
    /// The state.
    public var state: State
    /// For `pending`: the consumer holding it.
    public var consumer: String?
    /// For `pending`: milliseconds since it was delivered.
    public var idleMilliseconds: Int?
    /// For `pending`: how often Redis delivered it.
    public var deliveries: Int?
    /// For `pending` and `retry_due`: the entry id (in the main or the retry stream).
    public var entryID: String?
    /// For `pending` and `retry_due`: whether the entry is in the retry stream.
    public var inRetryStream: Bool
    /// For `retry_scheduled`: when the retry is due, Unix milliseconds.
    public var retryAt: Int64?
    /// For `done`: when it completed, Unix milliseconds.
    public var doneAt: Int64?
    /// For `dead_lettered`: the dead letter (reason, error, attempts).
    public var deadLetter: DeadLetter?
    /// Whether the group's name keeps Spool's rule (``GroupStatus/hasValidName``). For a
    /// group made by hand with another name only its main stream is read: the state is
    /// `pending`, `waiting`, `acknowledged` or `not_found`, never a retry, dead or done one.
    public var hasValidName: Bool

    init(group: String, state: State) {
        self.group = group
        self.state = state
        self.inRetryStream = false
        self.hasValidName = true
    }
}
