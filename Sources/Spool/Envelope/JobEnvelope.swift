/// One job as stored in a stream entry: metadata plus an opaque payload.
///
/// The wire format (field names, encodings, versioning) is documented in
/// `docs/wire-format.md`; ``encodeFields(into:)`` and ``decode(fields:)`` implement it.
public struct JobEnvelope: Sendable, Hashable {
    /// The newest envelope version this library writes and understands: 1.
    public static let currentVersion = 1
    /// The default payload limit: 512 KiB. Jobs should carry ids and minimal context.
    public static let defaultMaxPayloadBytes = 512 * 1024
    /// The highest payload limit that can make sense: Redis's largest string, 512 MB.
    public static let maxPayloadBytesLimit = 512 * 1024 * 1024
    /// The most fields a stream entry may have before it is rejected as malformed.
    public static let maxFieldCount = 1_000
    /// Fields of Spool's own a retry may add to a job's entry (`attempt`, `enqueued_at`,
    /// `spool_first_error`, `spool_first_failed_at`): a producer leaves room for them under
    /// ``maxFieldCount``, or the job's first retry would be unreadable.
    public static let fieldsARetryAdds = 4
    /// The most bytes a job's type, dedup key and headers (names and values) may take together:
    /// 64 KiB. ``defaultMaxPayloadBytes`` bounds the payload; this bounds the rest, so that a
    /// worker's read of a few dozen jobs stays small.
    public static let maxMetadataBytes = 64 * 1024

    /// A field of the stream entry that this version does not know; kept byte-exact so that
    /// re-enqueueing (retry, replay) preserves what a newer producer wrote.
    public struct ExtraField: Sendable, Hashable {
        /// The field's name, as read.
        public var name: [UInt8]
        /// The field's value, as read.
        public var value: [UInt8]

        /// Creates a field from its raw name and value.
        public init(name: [UInt8], value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    /// The envelope format version (`v`).
    public var version: Int
    /// The job's unique, time-ordered id (`id`).
    public var id: JobID
    /// The job type name that selects the handler (`type`), e.g. `send_email`.
    public var type: String
    /// The job's parameters, opaque bytes (`payload`); JSON by convention.
    public var payload: [UInt8]
    /// When the job was first enqueued, in Unix milliseconds (`enqueued_at`).
    public var enqueuedAt: Int64
    /// Which attempt the next delivery is, starting at 1 (`attempt`).
    public var attempt: Int
    /// The producer's cap on attempts, overriding the worker's retry strategy (`max_attempts`);
    /// at least 1 (``SpoolProducer`` refuses to push less).
    public var maxAttempts: Int?
    /// The dedup key the job was enqueued with, if any (`key`).
    public var key: String?
    /// The W3C trace context of the enqueueing span, if any (`traceparent`).
    public var traceparent: String?
    /// The vendor-specific part of that trace context, if any (`tracestate`): W3C Trace
    /// Context's list of `key=value` members, passed on with ``traceparent`` only.
    public var tracestate: String?
    /// Free-form string metadata, one `h:<name>` field per header.
    public var headers: [String: String]
    /// Fields this version does not know, in the order they were read (empty for new jobs).
    public internal(set) var extraFields: [ExtraField]

    /// Creates an envelope for a new job (version ``currentVersion``, attempt 1 by default).
    ///
    /// `enqueuedAt` defaults to the id's timestamp for a UUIDv7 id (the wire format's default, so
    /// the stream entry can leave it out), and to the current time for other ids.
    public init(
        id: JobID = JobID(),
        type: String,
        payload: [UInt8],
        enqueuedAt: Int64? = nil,
        attempt: Int = 1,
        maxAttempts: Int? = nil,
        key: String? = nil,
        traceparent: String? = nil,
        tracestate: String? = nil,
        headers: [String: String] = [:]
    ) {
        self.version = Self.currentVersion
        self.id = id
        self.type = type
        self.payload = payload
        // a UUIDv7's time is when it was made; other versions carry no time
        self.enqueuedAt = enqueuedAt ?? (id.version == 7 ? id.timestamp : JobID.currentMillis())
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.key = key
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.headers = headers
        self.extraFields = []
    }

    /// Checks a payload's size against a limit.
    /// - Throws: ``SpoolError/Code/payloadTooLarge`` when `byteCount` exceeds `limit`.
    public static func checkPayloadSize(
        _ byteCount: Int,
        limit: Int = defaultMaxPayloadBytes
    ) throws(SpoolError) {
        guard byteCount <= limit else {
            throw SpoolError(
                code: .payloadTooLarge,
                message: "payload of \(byteCount) bytes exceeds the limit of \(limit) bytes: "
                    + "keep jobs small (ids and minimal context) or raise the limit (maxPayloadBytes in the library, "
                    + "--max-payload-bytes for spool worker and spool enqueue)"
            )
        }
    }
}
