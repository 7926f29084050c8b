/// Options for one push: delay, attempts, dedup key, headers.
public struct PushOptions: Sendable {
    /// Run the job no earlier than this long from now (0 or less: at once; at most 100 years).
    /// Defaults to `nil` (at once).
    public var delay: Duration?
    /// Run the job no earlier than this Unix time in milliseconds; wins over ``delay``. A time
    /// in the past runs the job at once. A push refuses a negative one, one that reads as
    /// seconds (under 10^11, before March 1973), and one more than 100 years ahead.
    public var runAt: Int64?
    /// Attempts before the job is dead-lettered, at least 1 (a push with less throws);
    /// `nil` uses the worker's retry strategy. Set, it replaces an envelope's own.
    public var maxAttempts: Int?
    /// Makes the push idempotent: within ``dedupWindow`` a second push with the same key
    /// enqueues nothing and returns the first job's id. For a push of one job only: a batch
    /// push with one throws, since one key would cover every job (give each envelope its own
    /// ``JobEnvelope/key`` instead).
    public var dedupKey: String?
    /// How long a dedup key is remembered. Defaults to 24 hours.
    public var dedupWindow: Duration
    /// Free-form string headers carried with the job (`h:<name>` fields); each replaces an
    /// envelope's header of the same name. A name must be non-empty, without control characters.
    public var headers: [String: String]
    /// A W3C trace context to propagate to the handler. A push with one creates no
    /// `spool.push` span: the job carries this context as it is.
    public var traceparent: String?
    /// The vendor-specific part of that trace context (W3C `tracestate`), carried with it;
    /// only together with ``traceparent`` (a push with this alone throws). A
    /// ``traceparent`` set here replaces an envelope's, with its tracestate (this one, or none).
    public var tracestate: String?

    /// Creates options; every field has a default.
    public init(
        delay: Duration? = nil,
        runAt: Int64? = nil,
        maxAttempts: Int? = nil,
        dedupKey: String? = nil,
        dedupWindow: Duration = .seconds(86_400),
        headers: [String: String] = [:],
        traceparent: String? = nil,
        tracestate: String? = nil
    ) {
        self.delay = delay
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.dedupKey = dedupKey
        self.dedupWindow = dedupWindow
        self.headers = headers
        self.traceparent = traceparent
        self.tracestate = tracestate
    }

    /// Options with the defaults.
    public static var `default`: PushOptions { PushOptions() }

    /// Whether these options set a field an envelope carries (``apply(to:)`` changes it).
    var setsEnvelopeFields: Bool { maxAttempts != nil || traceparent != nil || tracestate != nil || !headers.isEmpty }

    /// Puts the fields these options set into `envelope`, replacing its own.
    func apply(to envelope: inout JobEnvelope) {
        guard setsEnvelopeFields else { return }
        if let maxAttempts { envelope.maxAttempts = maxAttempts }
        if traceparent != nil || tracestate != nil {
            envelope.traceparent = traceparent
            envelope.tracestate = tracestate
        }
        for (name, value) in headers { envelope.headers[name] = value }
    }
}

/// What a push did: the job's id, and whether a dedup key made it a duplicate.
public struct PushResult: Sendable, Hashable, CustomStringConvertible {
    /// The id of the job: the new one, or for a duplicate the first job's.
    public var id: JobID
    /// `true` when another job with the same dedup key was already pushed within the window:
    /// nothing was stored, and ``id`` is that job's. `false` when the key names this very job
    /// (the same envelope pushed again, or a resend after a lost reply): it was stored once,
    /// by the earlier send, as that send had it (a payload or options changed since are not
    /// applied), and `spool.jobs.enqueued` counts it again.
    public var isDuplicate: Bool

    /// A result as a push returns it, e.g. from a test double of the code that pushes.
    public init(id: JobID, isDuplicate: Bool = false) {
        self.id = id
        self.isDuplicate = isDuplicate
    }

    public var description: String { isDuplicate ? "\(id) (duplicate)" : "\(id)" }
}
