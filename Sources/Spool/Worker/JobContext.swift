import Logging

/// What a handler knows about the job it runs.
public struct JobContext: Sendable {
    /// The job's id (stable across retries and redeliveries).
    public let id: JobID
    /// The queue the job came from.
    public let queue: QueueName
    /// The group (subscriber) running it.
    public let group: GroupName
    /// The job type name.
    public let type: String
    /// This attempt's number, from 1; redeliveries after a crash count as attempts.
    public let attempt: Int
    /// Attempts allowed before the job is dead-lettered.
    public let maxAttempts: Int
    /// When the job was first enqueued, in Unix milliseconds.
    public let enqueuedAt: Int64
    /// How often Redis delivered this stream entry (1 unless it was reclaimed).
    public let deliveryCount: Int
    /// The job's string headers.
    public let headers: [String: String]
    /// The W3C trace context of the job: with a tracer (``SpoolWorker`` `tracer:`) the handler
    /// span's own, a child of the one the producer attached; otherwise the producer's, if any.
    /// A stored value that is not W3C trace context is treated as absent (`nil`).
    public let traceparent: String?
    /// The vendor-specific part of that trace context (W3C `tracestate`), if any: when the
    /// tracer writes the handler span's ``traceparent``, the `tracestate` it writes with it (or
    /// `nil`); otherwise the producer's. A worker gives `nil` whenever ``traceparent`` is
    /// `nil`, and for a stored value that is not W3C trace context.
    public let tracestate: String?
    /// The name of the worker (Redis consumer) running the job.
    public let workerName: String
    /// A logger with the job's metadata (`spool.queue`, `spool.group`, `spool.job.id`,
    /// `spool.job.type`, `spool.attempt`).
    ///
    /// Made each time it is read (unless set): a handler that does not log pays nothing for
    /// it. One that logs often can keep it in a local.
    public var logger: Logger {
        get {
            if let assigned { return assigned }
            var logger = workerLogger
            // values, not interpolated strings: rendered only if something is logged
            logger[metadataKey: "spool.job.id"] = .stringConvertible(id)
            logger[metadataKey: "spool.job.type"] = .string(type)
            logger[metadataKey: "spool.attempt"] = .stringConvertible(attempt)
            return logger
        }
        set { assigned = newValue }
    }

    /// The worker's logger, with the subscription's metadata (`spool.queue`, `spool.group`).
    private let workerLogger: Logger
    /// A logger the handler set.
    private var assigned: Logger?

    /// A context for running a handler outside a worker, as in a unit test of the handler:
    ///
    /// ```swift
    /// try await sendReceipt(job, JobContext(queue: try QueueName("order.placed"), type: "send_receipt"))
    /// ```
    ///
    /// Every value a worker would fill in has a default: a new id, the `default` group, the
    /// first of 5 attempts and deliveries, `enqueuedAt` the id's time, no headers or trace, the
    /// worker name `test`; `logger` gets the job's metadata as a worker's does.
    public init(
        id: JobID = JobID(), queue: QueueName, group: GroupName = .default, type: String, attempt: Int = 1,
        maxAttempts: Int = 5, enqueuedAt: Int64? = nil, deliveryCount: Int = 1, headers: [String: String] = [:],
        traceparent: String? = nil, tracestate: String? = nil, workerName: String = "test", logger: Logger = Logger(label: "spool.job")
    ) {
        var workerLogger = logger
        workerLogger[metadataKey: "spool.queue"] = .string(queue.rawValue)
        workerLogger[metadataKey: "spool.group"] = .string(group.rawValue)
        self.init(
            id: id, queue: queue, group: group, type: type, attempt: attempt, maxAttempts: maxAttempts,
            enqueuedAt: enqueuedAt ?? id.timestamp, deliveryCount: deliveryCount, headers: headers, traceparent: traceparent,
            tracestate: tracestate, workerName: workerName, workerLogger: workerLogger
        )
    }

    init(
        id: JobID, queue: QueueName, group: GroupName, type: String, attempt: Int, maxAttempts: Int,
        enqueuedAt: Int64, deliveryCount: Int, headers: [String: String], traceparent: String?,
        tracestate: String?, workerName: String, workerLogger: Logger
    ) {
        self.id = id
        self.queue = queue
        self.group = group
        self.type = type
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.enqueuedAt = enqueuedAt
        self.deliveryCount = deliveryCount
        self.headers = headers
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.workerName = workerName
        self.workerLogger = workerLogger
    }
}
