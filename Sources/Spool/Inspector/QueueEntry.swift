/// One entry of a queue's stream, as `spool inspect` lists it.
public struct QueueEntry: Sendable, Hashable {
    /// The stream entry id, `ms-seq`.
    public var entryID: String
    /// The job id (`id` field), when present.
    public var jobID: String?
    /// The job type name (`type` field), when present.
    public var type: String?
    /// When the job was first enqueued, Unix milliseconds (`enqueued_at`), when present.
    public var enqueuedAt: Int64?
    /// The attempt the next delivery is (`attempt`), when present.
    public var attempt: Int?
    /// The payload's size in bytes.
    public var payloadBytes: Int
    /// Every field of the entry, as text (invalid UTF-8 is replaced).
    public var fields: [String: String]

    init(entryID: String, fields: [String: String], payloadBytes: Int) {
        self.entryID = entryID
        self.fields = fields
        self.payloadBytes = payloadBytes
        jobID = fields["id"]
        type = fields["type"]
        enqueuedAt = fields["enqueued_at"].flatMap { Int64($0) }
        attempt = fields["attempt"].flatMap { Int($0) }
    }

    /// The time part of the entry id: when Redis added the entry, Unix milliseconds.
    public var addedAt: Int64 {
        Int64(entryID.prefix { $0 != "-" }) ?? 0
    }
}
