/// A job in a dead-letter stream, with why it got there.
public struct DeadLetter: Sendable, Codable, Hashable {
    /// The dead-letter stream entry id (what replay and purge take).
    public var entryID: String
    /// The job id, when the entry was a readable job.
    public var jobID: String?
    /// The job type name.
    public var type: String?
    /// The payload as text (invalid UTF-8 is replaced).
    public var payload: String?
    /// The attempts made.
    public var attempts: Int?
    /// `retries_exhausted`, `non_retryable`, `malformed`, `no_handler` or `max_deliveries`.
    public var reason: String
    /// The last error.
    public var error: String
    /// The first error.
    public var firstError: String?
    /// When it was dead-lettered, Unix milliseconds.
    public var failedAt: Int64?
    /// When it first failed, Unix milliseconds.
    public var firstFailedAt: Int64?
    /// The worker that dead-lettered it.
    public var worker: String?
    /// Its original entry id in the queue (or the retry stream).
    public var originalEntryID: String?
    /// Every field of the entry, as text.
    public var fields: [String: String]

    init(entryID: String, fields: [String: String]) {
        self.entryID = entryID
        self.fields = fields
        jobID = fields["id"]
        type = fields["type"]
        payload = fields["payload"]
        attempts = fields["dead_attempts"].flatMap { Int($0) }
        reason = fields["dead_reason"] ?? "unknown"
        error = fields["dead_error"] ?? ""
        firstError = fields["dead_first_error"]
        failedAt = fields["dead_failed_at"].flatMap { Int64($0) }
        firstFailedAt = fields["dead_first_failed_at"].flatMap { Int64($0) }
        worker = fields["dead_worker"]
        originalEntryID = fields["dead_entry"]
    }
}

/// Which dead letters a list, replay or purge touches. An empty filter matches all.
public struct DeadLetterFilter: Sendable, Hashable {
    /// Job ids or dead-letter entry ids to match. A UUID job id matches in either case.
    public var ids: Set<String>
    /// Only this job type.
    public var type: String?
    /// Only those dead-lettered at or after this Unix time in milliseconds.
    public var since: Int64?

    /// Creates a filter; with no arguments it matches every dead letter.
    public init(ids: Set<String> = [], type: String? = nil, since: Int64? = nil) {
        self.ids = ids
        self.type = type
        self.since = since
    }

    func matches(_ letter: DeadLetter) -> Bool {
        if !ids.isEmpty && !ids.contains(letter.entryID) && !ids.contains(where: { JobID.sameID(letter.jobID, $0) }) { return false }
        if let type, letter.type != type { return false }
        if let since, (letter.failedAt ?? 0) < since { return false }
        return true
    }
}
