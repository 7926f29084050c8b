import CoreMetrics
import Logging
import Metrics
import SpoolRedis
import Synchronization
import Tracing

/// Publishes jobs to queues. Cheap to copy; share one per process.
///
/// ```swift
/// let producer = SpoolProducer(client: client, logger: logger)
/// let id = try await producer.push(SendEmail(to: "a@example.com"), to: try QueueName("emails")).id
/// ```
public struct SpoolProducer: Sendable {
    /// Producer settings.
    public struct Configuration: Sendable {
        /// The key prefix shared with the workers. Defaults to `spool`.
        public var prefix: String
        /// Largest payload accepted, in bytes. Defaults to 512 KiB.
        public var maxPayloadBytes: Int

        /// Creates a configuration; every field has a default.
        public init(prefix: String = QueueKeys.defaultPrefix, maxPayloadBytes: Int = JobEnvelope.defaultMaxPayloadBytes) {
            self.prefix = prefix
            self.maxPayloadBytes = maxPayloadBytes
        }
    }

    private let client: RedisClient
    private let configuration: Configuration
    private let logger: Logger
    private let registered: RegisteredQueues
    /// `nil` when tracing is off (the no-op tracer).
    let tracer: (any Tracer)?

    /// Creates a producer on a client.
    ///
    /// - Parameters:
    ///   - metricsFactory: where `spool.jobs.enqueued` goes. Defaults to `MetricsSystem.factory`.
    ///   - tracer: with a tracer, a push runs in a `spool.push <queue>` producer span whose W3C
    ///     `traceparent` (and `tracestate`, when the tracer writes a valid one) is stored with
    ///     jobs that carry none; a job with its own `traceparent`
    ///     (e.g. ``PushOptions/traceparent``) keeps it, and a push whose jobs all carry one
    ///     creates no span. Defaults to `InstrumentationSystem.tracer` (a no-op until the app
    ///     bootstraps one).
    public init(
        client: RedisClient, configuration: Configuration = Configuration(), logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        tracer: any Tracer = InstrumentationSystem.tracer
    ) {
        self.tracer = TraceHeaders.active(tracer)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.registered = RegisteredQueues(metricsFactory: metricsFactory)
    }

    /// Pushes a job; returns after Redis acknowledged it.
    /// - Throws: ``SpoolError``: payload too large, encoding failed, `maxAttempts` below 1 (code
    ///   `invalidArgument`, nothing sent), or Redis failed (code `redis`; a timeout or lost
    ///   connection leaves the outcome unknown).
    @discardableResult
    public func push<J: JobParameters>(_ job: J, to queue: QueueName, options: PushOptions = .default) async throws(SpoolError) -> PushResult {
        try checkConfiguration(queue)
        let envelope = try JobEnvelope.make(
            job, maxAttempts: options.maxAttempts, key: options.dedupKey, traceparent: options.traceparent,
            tracestate: options.tracestate, headers: options.headers, maxPayloadBytes: configuration.maxPayloadBytes
        )
        return try await pushPrepared(envelope, to: queue, options: options)
    }

    /// Pushes raw payload bytes with a job type name.
    @discardableResult
    public func push(payload: [UInt8], type: String, to queue: QueueName, options: PushOptions = .default) async throws(SpoolError) -> PushResult {
        try checkConfiguration(queue)
        try JobEnvelope.checkPayloadSize(payload.count, limit: configuration.maxPayloadBytes)
        let envelope = JobEnvelope(
            type: type, payload: payload, maxAttempts: options.maxAttempts, key: options.dedupKey,
            traceparent: options.traceparent, tracestate: options.tracestate, headers: options.headers
        )
        return try await pushPrepared(envelope, to: queue, options: options)
    }

    /// Pushes a prepared envelope (its `id` is the job's id).
    ///
    /// The dedup key is ``PushOptions/dedupKey``, else the envelope's own ``JobEnvelope/key``
    /// (as in a batch push); the one used is the one the stored job carries. The options'
    /// ``PushOptions/maxAttempts``, ``PushOptions/traceparent`` (with its
    /// ``PushOptions/tracestate``) and ``PushOptions/headers``, where set, replace the
    /// envelope's (a header of the same name).
    @discardableResult
    public func push(_ envelope: JobEnvelope, to queue: QueueName, options: PushOptions = .default) async throws(SpoolError) -> PushResult {
        try checkConfiguration(queue)
        var envelope = envelope
        options.apply(to: &envelope)
        return try await pushPrepared(envelope, to: queue, options: options)
    }

    /// ``push(_:to:options:)`` of an envelope the options were applied to.
    private func pushPrepared(_ envelope: JobEnvelope, to queue: QueueName, options: PushOptions) async throws(SpoolError) -> PushResult {
        if options.dedupKey?.isEmpty == true {
            throw SpoolError(
                code: .invalidArgument,
                message: "PushOptions.dedupKey is empty: give a key that names the job, or nil; nothing was pushed to queue \(queue)"
            )
        }
        // the key stored is the one checked
        var envelope = envelope
        var options = options
        if options.dedupKey == nil {
            options.dedupKey = envelope.key
        } else if envelope.key != options.dedupKey {
            envelope.key = options.dedupKey
        }
        try Self.check(options, queue: queue, keyed: options.dedupKey != nil)
        try Self.check(envelope, queue: queue)
        if tracer != nil && envelope.traceparent == nil {
            return try await traced([envelope], to: queue) { (stamped) async throws(SpoolError) -> PushResult in
                try await pushUntraced(stamped[0], to: queue, options: options)
            }
        }
        return try await pushUntraced(envelope, to: queue, options: options)
    }

    private func pushUntraced(_ envelope: JobEnvelope, to queue: QueueName, options: PushOptions) async throws(SpoolError) -> PushResult {
        try JobEnvelope.checkPayloadSize(envelope.payload.count, limit: configuration.maxPayloadBytes)
        let known = try await registeredQueue(queue)
        let reply = try await send(command(for: envelope, keys: known.keys, options: options), queue: queue)
        let pushed = try result(reply, id: envelope.id, queue: queue, marker: options.dedupKey.map { known.keys.dedupKey($0) })
        if !pushed.isDuplicate { known.enqueued.increment() }
        return pushed
    }

    /// Pushes many jobs to one queue in a single round trip; results are in order.
    ///
    /// `options` applies to every job, except ``PushOptions/dedupKey``: a dedup key names one
    /// job, so a batch push with one throws (code `invalidArgument`) before anything is sent.
    /// To deduplicate the jobs of a batch, give each its own key with
    /// ``JobEnvelope/make(_:id:enqueuedAt:maxAttempts:key:traceparent:tracestate:headers:maxPayloadBytes:)``
    /// and push the envelopes.
    @discardableResult
    public func push<J: JobParameters>(_ jobs: [J], to queue: QueueName, options: PushOptions = .default) async throws(SpoolError) -> [PushResult] {
        try checkConfiguration(queue)
        try Self.checkBatch(options)
        if tracer == nil { return try await pushMade(jobs, to: queue, options: options) }
        var envelopes: [JobEnvelope] = []
        envelopes.reserveCapacity(jobs.count)
        for job in jobs {
            envelopes.append(try JobEnvelope.make(
                job, maxAttempts: options.maxAttempts, traceparent: options.traceparent, tracestate: options.tracestate,
                headers: options.headers, maxPayloadBytes: configuration.maxPayloadBytes
            ))
        }
        return try await pushPrepared(envelopes, to: queue, options: options)
    }

    /// Pushes many envelopes to one queue in a single round trip; results are in order.
    ///
    /// Each envelope's own ``JobEnvelope/key`` is its dedup key (deduplicated within
    /// `options.dedupWindow`). ``PushOptions/dedupKey`` must be `nil`: one key cannot name every
    /// job of a batch, so a batch push with one throws (code `invalidArgument`) before anything
    /// is sent. The options' ``PushOptions/maxAttempts``, ``PushOptions/traceparent`` and
    /// ``PushOptions/headers``, where set, replace each envelope's, as for one envelope.
    @discardableResult
    public func push(_ envelopes: [JobEnvelope], to queue: QueueName, options: PushOptions = .default) async throws(SpoolError) -> [PushResult] {
        try checkConfiguration(queue)
        guard options.setsEnvelopeFields else { return try await pushPrepared(envelopes, to: queue, options: options) }
        var envelopes = envelopes
        for index in envelopes.indices { options.apply(to: &envelopes[index]) }
        return try await pushPrepared(envelopes, to: queue, options: options)
    }

    /// ``push(_:to:options:)`` of envelopes the options were applied to.
    private func pushPrepared(_ envelopes: [JobEnvelope], to queue: QueueName, options: PushOptions) async throws(SpoolError) -> [PushResult] {
        try Self.checkBatch(options)
        if envelopes.isEmpty { return [] }
        var keyed = false
        for index in envelopes.indices {
            try Self.check(envelopes[index], queue: queue)
            if envelopes[index].key != nil { keyed = true }
        }
        try Self.check(options, queue: queue, keyed: keyed)
        if tracer != nil {
            return try await traced(envelopes, to: queue) { (stamped) async throws(SpoolError) -> [PushResult] in
                try await pushUntraced(stamped, to: queue, options: options)
            }
        }
        return try await pushUntraced(envelopes, to: queue, options: options)
    }

    private func pushUntraced(_ envelopes: [JobEnvelope], to queue: QueueName, options: PushOptions) async throws(SpoolError) -> [PushResult] {
        let known = try await registeredQueue(queue)
        let keys = known.keys
        var commands: [RedisCommand] = []
        commands.reserveCapacity(envelopes.count)
        // each element read here is copied, every field retained and released (the compiler
        // does not borrow it in place, by index or pointer alike): the typed batch push avoids
        // the array (`pushMade`)
        var perJob = options
        for index in envelopes.indices {
            try JobEnvelope.checkPayloadSize(envelopes[index].payload.count, limit: configuration.maxPayloadBytes)
            perJob.dedupKey = envelopes[index].key
            commands.append(command(for: envelopes[index], keys: keys, options: perJob))
        }
        return try await sendBatch(commands, queue: queue, known: known) { index in
            (envelopes[index].id, envelopes[index].key.map { keys.dedupKey($0) })
        }
    }

    /// The batch push of jobs of one type without a tracer: each envelope is made, checked and
    /// turned into its command in one step, with no array of envelopes. Read back out of one,
    /// an envelope was copied, every field retained and released, up to three times per job.
    /// Nothing is sent before every job is made and checked, as in the other batch pushes.
    private func pushMade<J: JobParameters>(_ jobs: [J], to queue: QueueName, options: PushOptions) async throws(SpoolError) -> [PushResult] {
        if jobs.isEmpty { return [] }
        // first: a command's delay is added to the clock (a job of a type has no dedup key of
        // its own, and `options` has none: `checkBatch`)
        try Self.check(options, queue: queue, keyed: false)
        let keys = try QueueKeys(queue: queue, prefix: configuration.prefix)
        var commands: [RedisCommand] = []
        commands.reserveCapacity(jobs.count)
        var ids: [JobID] = []
        ids.reserveCapacity(jobs.count)
        for job in jobs {
            let envelope = try JobEnvelope.make(
                job, maxAttempts: options.maxAttempts, traceparent: options.traceparent, tracestate: options.tracestate,
                headers: options.headers, maxPayloadBytes: configuration.maxPayloadBytes
            )
            try Self.check(envelope, queue: queue)
            commands.append(command(for: envelope, keys: keys, options: options))
            ids.append(envelope.id)
        }
        let known = try await registeredQueue(queue)
        return try await sendBatch(commands, queue: queue, known: known) { index in (ids[index], nil) }
    }

    /// Sends a batch push's commands and reads each job's result; `job(index)` is the id of
    /// the job of the command at `index`, and its dedup marker's key if it has one.
    private func sendBatch(
        _ commands: [RedisCommand], queue: QueueName, known: RegisteredQueues.Queue, job: (Int) -> (id: JobID, marker: String?)
    ) async throws(SpoolError) -> [PushResult] {
        let replies: [RESPValue]
        do {
            replies = try await client.pipeline(commands)
        } catch {
            throw SpoolError.redis(error, doing: "push of \(commands.count) jobs to queue \(queue) (which of them were stored is unknown)")
        }
        // Each job's command succeeds or fails on its own (a batch is not a transaction): the
        // stored ones are reported even when others failed, so that nobody pushes them again.
        var results: [PushResult?] = []
        results.reserveCapacity(commands.count)
        var errors: [Int: SpoolError] = [:]
        for index in commands.indices {
            do throws(SpoolError) {
                if let failure = replies[index].errorMessage {
                    throw SpoolError.redis(RedisError.reply(failure, address: client.redactedAddress), doing: "push")
                }
                let (id, marker) = job(index)
                results.append(try result(replies[index], id: id, queue: queue, marker: marker))
            } catch {
                results.append(nil)
                errors[index] = error
            }
        }
        let stored = results.lazy.compactMap { $0 }
        known.enqueued.increment(by: stored.filter { !$0.isDuplicate }.count)
        if errors.isEmpty { return results.map { $0! } }
        throw PartialPush(results: results, errors: errors).error(queue: queue)
    }

    /// Refuses options a batch push cannot honour: a dedup key names one job.
    private static func checkBatch(_ options: PushOptions) throws(SpoolError) {
        if options.dedupKey != nil {
            throw SpoolError(
                code: .invalidArgument,
                message: "PushOptions.dedupKey cannot be used for a batch push (one key would cover every job): give each job "
                    + "its own key with JobEnvelope.make(_:key:) and push the envelopes; nothing was pushed"
            )
        }
    }

    /// Refuses a job a worker would dead-letter as malformed: an attempt limit below 1, an
    /// attempt below 1, a version other than ``JobEnvelope/currentVersion``, an `enqueuedAt`
    /// below 0, an empty type, more fields than a worker reads (``JobEnvelope/maxFieldCount``); and one
    /// whose `traceparent` or `tracestate` is not W3C trace context (a worker would ignore it,
    /// and a tracer could not continue it), or with a `tracestate` but no `traceparent`.
    private static func check(_ envelope: JobEnvelope, queue: QueueName) throws(SpoolError) {
        func refuse(_ what: String) -> SpoolError {
            SpoolError(code: .invalidArgument, message: "\(what); nothing was pushed to queue \(queue)")
        }
        if let maxAttempts = envelope.maxAttempts, maxAttempts < 1 {
            throw refuse(
                "maxAttempts is \(maxAttempts) for job \(envelope.id): it must be at least 1 (or nil for the worker's retry strategy)"
            )
        }
        if envelope.attempt < 1 {
            throw refuse("attempt is \(envelope.attempt) for job \(envelope.id): it must be at least 1 (1 for a new job)")
        }
        if envelope.version != JobEnvelope.currentVersion {
            throw refuse(
                "job \(envelope.id) has envelope version \(envelope.version): this producer writes version "
                    + "\(JobEnvelope.currentVersion), the one its fields are encoded in; leave JobEnvelope.version as it is"
            )
        }
        if envelope.enqueuedAt < 0 {
            throw refuse("enqueuedAt is \(envelope.enqueuedAt) for job \(envelope.id): Unix milliseconds, 0 or more")
        }
        if envelope.type.isEmpty { throw refuse("job \(envelope.id) has an empty type: name the kind of job") }
        if envelope.type.containsControlCharacters {
            // (an http handler sends the type as a header, and logs and terminals show it)
            throw refuse("the type \(SpoolError.quoted(envelope.type)) of job \(envelope.id) holds control characters: name the kind of job without them")
        }
        if envelope.key?.isEmpty == true {
            throw refuse("job \(envelope.id) has an empty dedup key: give a key that names the job, or none")
        }
        if !envelope.headers.isEmpty || envelope.type.utf8.count + (envelope.key?.utf8.count ?? 0) > JobEnvelope.maxMetadataBytes {
            try checkHeaders(envelope, queue: queue)
        }
        if envelope.traceparent != nil || envelope.tracestate != nil { try checkTraceContext(envelope, queue: queue) }
        // counting the traceparent and tracestate a tracer may stamp on the job before it is sent
        let traceFields = envelope.traceparent == nil ? 2 : envelope.tracestate == nil ? 1 : 0
        let fields = envelope.fieldCount + traceFields
        if fields > JobEnvelope.maxFieldCount - JobEnvelope.fieldsARetryAdds {
            throw refuse(
                "job \(envelope.id) would be a stream entry of up to \(fields) fields (\(envelope.headers.count) of them headers, "
                    + "\(traceFields) for trace context a tracer may add), over the \(JobEnvelope.maxFieldCount - JobEnvelope.fieldsARetryAdds) a job may have "
                    + "(a worker reads \(JobEnvelope.maxFieldCount), and a retry adds up to \(JobEnvelope.fieldsARetryAdds) of "
                    + "Spool's own): put the data in the payload"
            )
        }
    }

    /// Refuses a header name that is empty or holds control characters, and a type, dedup key
    /// and headers over ``JobEnvelope/maxMetadataBytes`` together. Apart from
    /// ``check(_:queue:)``, as ``checkTraceContext(_:queue:)`` is: most jobs carry no header.
    @inline(never)
    private static func checkHeaders(_ envelope: JobEnvelope, queue: QueueName) throws(SpoolError) {
        var bytes = envelope.type.utf8.count + (envelope.key?.utf8.count ?? 0)
        for (name, value) in envelope.headers { bytes += name.utf8.count + value.utf8.count }
        if bytes > JobEnvelope.maxMetadataBytes {
            throw SpoolError(
                code: .invalidArgument,
                message: "job \(envelope.id) has \(bytes) bytes of type, dedup key and headers, over the "
                    + "\(JobEnvelope.maxMetadataBytes) allowed (the payload has its own limit): put the data in the payload; "
                    + "nothing was pushed to queue \(queue)"
            )
        }
        for name in envelope.headers.keys
        where name.isEmpty || name.containsControlCharacters {
            throw SpoolError(
                code: .invalidArgument,
                message: "job \(envelope.id) has a header named \(SpoolError.quoted(name)): a header name must be non-empty, "
                    + "without control characters; nothing was pushed to queue \(queue)"
            )
        }
    }

    /// Refuses a ``Configuration/maxPayloadBytes`` no push can work with (as a worker's is
    /// checked); each public push calls it once, first.
    private func checkConfiguration(_ queue: QueueName) throws(SpoolError) {
        if !(1...JobEnvelope.maxPayloadBytesLimit).contains(configuration.maxPayloadBytes) {
            throw SpoolError(
                code: .invalidArgument,
                message: "SpoolProducer.Configuration.maxPayloadBytes (\(configuration.maxPayloadBytes)) must be "
                    + "1...\(JobEnvelope.maxPayloadBytesLimit) (Redis's largest string); the default is "
                    + "\(JobEnvelope.defaultMaxPayloadBytes); nothing was pushed to queue \(queue)"
            )
        }
    }

    /// Refuses a `traceparent` or `tracestate` that is not W3C trace context, and a
    /// `tracestate` without a `traceparent`. Apart from ``check(_:queue:)``: most jobs carry
    /// neither, and the checks' messages would enlarge the check every job goes through.
    @inline(never)
    private static func checkTraceContext(_ envelope: JobEnvelope, queue: QueueName) throws(SpoolError) {
        func refuse(_ what: String) -> SpoolError {
            SpoolError(code: .invalidArgument, message: "\(what); nothing was pushed to queue \(queue)")
        }
        if let traceparent = envelope.traceparent, !TraceParent.isValid(traceparent) {
            throw refuse(
                "the traceparent of job \(envelope.id) is not W3C trace context (00-<32 hex trace id>-<16 hex parent id>-<2 hex "
                    + "flags>, lowercase, neither id all zeros): pass one a tracer wrote, or none"
            )
        }
        if let tracestate = envelope.tracestate {
            if envelope.traceparent == nil {
                throw refuse(
                    "job \(envelope.id) has a tracestate but no traceparent: W3C trace context passes a tracestate on only with "
                        + "its traceparent; set both, or neither"
                )
            }
            if !TraceState.isValid(tracestate) {
                throw refuse(
                    "the tracestate of job \(envelope.id) is not W3C trace context (1 to 32 key=value members separated by "
                        + "commas, keys unique, of lowercase letters, digits and _-*/@, values of printable ASCII without , or "
                        + "=): pass one a tracer wrote, or none"
                )
            }
        }
    }

    /// The longest delay and dedup window accepted: 100 years, as the CLI's durations. Redis
    /// refuses an expiry whose end overflows its clock, and a delay added to now must not
    /// overflow either.
    static let longestDuration = Duration.seconds(100 * 365 * 86_400)

    /// Refuses a delay or (for a push with a dedup key) a dedup window out of range.
    private static func check(_ options: PushOptions, queue: QueueName, keyed: Bool) throws(SpoolError) {
        if let runAt = options.runAt { try check(runAt: runAt, queue: queue) }
        if let delay = options.delay, delay > longestDuration {
            throw SpoolError(
                code: .invalidArgument,
                message: "PushOptions.delay is \(delay): at most 100 years; nothing was pushed to queue \(queue)"
            )
        }
        if keyed && !(Duration.milliseconds(1)...longestDuration).contains(options.dedupWindow) {
            throw SpoolError(
                code: .invalidArgument,
                message: "PushOptions.dedupWindow is \(options.dedupWindow): it must be 1 ms to 100 years; nothing was pushed "
                    + "to queue \(queue)"
            )
        }
    }

    /// Refuses a `runAt` that cannot be meant: negative, in seconds rather than milliseconds
    /// (a Unix time in seconds read as milliseconds is in January 1970: the job would run at
    /// once), or more than 100 years ahead (it would wait for ever).
    @inline(never)
    private static func check(runAt: Int64, queue: QueueName) throws(SpoolError) {
        func refuse(_ what: String) -> SpoolError {
            SpoolError(code: .invalidArgument, message: "PushOptions.runAt is \(runAt): \(what); nothing was pushed to queue \(queue)")
        }
        if runAt < 0 { throw refuse("Unix milliseconds, 0 or more") }
        // 10^11 ms is 1973-03-03; 10^11 s is the year 5138
        if runAt > 0 && runAt < 100_000_000_000 {
            throw refuse("that is in 1970 or so as Unix milliseconds: a Unix time in seconds? Multiply it by 1000")
        }
        let now = JobID.currentMillis()
        if runAt > now && runAt - now > longestDuration.milliseconds {
            throw refuse("more than 100 years from now: Unix milliseconds, at most 100 years ahead")
        }
    }

    // MARK: - Commands

    private func command(for envelope: JobEnvelope, keys: QueueKeys, options: PushOptions) -> RedisCommand {
        let runAt = options.runAt ?? options.delay.map { JobID.currentMillis() + $0.milliseconds }
        if options.dedupKey == nil && runAt == nil {
            var command = RedisCommand(name: "XADD", reservingBytes: envelope.payload.count + 160, arguments: 16)
            command.append(keys.stream)
            command.append("*")
            envelope.encodeFields(into: &command)
            return command
        }
        var command = RedisCommand(name: "EVALSHA", reservingBytes: envelope.payload.count + 300, arguments: 24)
        command.append(SpoolScripts.enqueue.sha1)
        command.append(3)
        command.append(keys.stream)
        command.append(keys.delayed)
        command.append(options.dedupKey.map { keys.dedupKey($0) } ?? keys.stream)
        command.append(envelope.id.description)
        command.append(Int64(max(runAt ?? 0, 0)))
        command.append(options.dedupKey == nil ? 0 : max(options.dedupWindow.milliseconds, 1))
        envelope.encodeFields(into: &command)
        command.attach(SpoolScripts.enqueue)
        return command
    }

    /// The queue, registered: before this producer's first push to a queue, it adds the
    /// queue to the registry set (so the CLI lists it) on its own, so that a refusal (an ACL
    /// without `sadd`, the key of another type) fails the push before any job is stored. Sent
    /// with the first job, a refusal failed a push whose job was stored, and every later push
    /// the same way.
    private func registeredQueue(_ queue: QueueName) async throws(SpoolError) -> RegisteredQueues.Queue {
        if let known = registered[queue] { return known }
        let keys = try QueueKeys(queue: queue, prefix: configuration.prefix)
        do {
            _ = try await client.send(RedisCommand("SADD", keys.registry, keys.queue.rawValue))
        } catch {
            throw SpoolError.redis(
                error, doing: "registering queue \(queue) in \(keys.registry) before its first push (nothing was pushed)"
            )
        }
        return registered.insert(keys)
    }

    private func send(_ command: RedisCommand, queue: QueueName) async throws(SpoolError) -> RESPValue {
        do {
            return try await client.send(command)
        } catch {
            throw SpoolError.redis(error, doing: "push to queue \(queue)")
        }
    }

    /// - Parameter marker: the dedup marker's key, for a push with a dedup key.
    private func result(_ reply: RESPValue, id: JobID, queue: QueueName, marker: String?) throws(SpoolError) -> PushResult {
        // XADD answers the stream entry id; the enqueue script answers {1, id} or {0, first id}.
        guard let pair = reply.array else { return PushResult(id: id, isDuplicate: false) }
        guard pair.count == 2, let first = pair[1].string.flatMap(JobID.init) else {
            if pair.count == 2, pair[0].int == 0, let marker {
                // a marker someone else set (docs/wire-format.md, "Dedup keys from other producers")
                let value = pair[1].string.map { SpoolError.quoted($0) } ?? "\(pair[1])"
                throw SpoolError(
                    code: .redis,
                    message: "the dedup marker \(SpoolError.quoted(marker, limit: 200)) holds \(value), not a job id: another client set it without "
                        + "following docs/wire-format.md (\"Dedup keys from other producers\"); job \(id) was not pushed to queue "
                        + "\(queue). Delete the key, or push with another dedup key"
                )
            }
            throw SpoolError(code: .redis, message: "unexpected reply \(reply) to a push to queue \(queue)")
        }
        // A marker that names this very job was set by an earlier send of this push, which
        // stored the job (the script stores it before the marker): a cluster client's resend
        // after a lost reply, or the caller pushing the same envelope again after an error.
        // The job was stored earlier, so it is reported stored, not as a duplicate of itself.
        return PushResult(id: first, isDuplicate: pair[0].int == 0 && first != id)
    }
}

/// The queues this producer added to the registry set (once the `SADD` succeeded, so a queue
/// whose registration failed is registered by the next push), with their keys and their
/// `spool.jobs.enqueued` counter. The prefix is the producer's own, so the queue name alone
/// is the key.
private final class RegisteredQueues: Sendable {
    struct Queue: Sendable {
        let keys: QueueKeys
        let enqueued: Counter
    }

    private let metricsFactory: any MetricsFactory
    private let queues = Mutex<[String: Queue]>([:])

    init(metricsFactory: any MetricsFactory) {
        self.metricsFactory = metricsFactory
    }

    /// A registered queue; `nil` until its registration succeeded.
    subscript(queue: QueueName) -> Queue? {
        queues.withLock { $0[queue.rawValue] }
    }

    /// Records a queue as registered (after its `SADD` succeeded) and returns it.
    func insert(_ keys: QueueKeys) -> Queue {
        queues.withLock { queues in
            if let known = queues[keys.queue.rawValue] { return known }
            let queue = Queue(
                keys: keys,
                enqueued: Counter(label: "spool.jobs.enqueued", dimensions: [("queue", keys.queue.rawValue)], factory: metricsFactory)
            )
            queues[keys.queue.rawValue] = queue
            return queue
        }
    }
}
