/// One entry of a queue's stream, as `spool inspect` lists it.
public struct QueueEntry: Sendable, Hashable {
    /// The stream entry id, `ms-seq`.
    public var entryID: String
    /// The job id (`id` field), when present.
    public var jobID: String?
    /// The job type name (`type` field), when present.
    public var type: String?
    /// When the job was first enqueued, Unix milliseconds: `enqueued_at`, or when the entry
    /// leaves it out (as Spool does when they agree), the timestamp in its job id.
    public var enqueuedAt: Int64?
    /// The attempt the next delivery is: `attempt`, or 1 for a job entry without it.
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
        // the wire format's defaults (docs/wire-format.md), for entries with a job id
        let id = fields["id"].flatMap(JobID.init)
        enqueuedAt = fields["enqueued_at"].flatMap { Int64($0) } ?? id.map { $0.version == 7 ? $0.timestamp : Self.addedAt(entryID) }
        attempt = fields["attempt"].flatMap { Int($0) } ?? (id == nil ? nil : 1)
    }

    /// The time part of the entry id: when Redis added the entry, Unix milliseconds.
    public var addedAt: Int64 { Self.addedAt(entryID) }

    static func addedAt(_ entryID: String) -> Int64 {
        // ids go up to 2^64 − 1 ms; like the worker, the inspector reads a larger one as Int64.max
        Int64(clamping: UInt64(entryID.prefix { $0 != "-" }) ?? 0)
    }
}
