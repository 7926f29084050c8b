import CoreMetrics
import Logging
import Metrics
import SpoolRedis

extension SubscriptionRunner {
    /// How a job ended.
    enum Outcome: Sendable {
        case succeeded
        case duplicate
        case failed(error: String)
        case deadLetter(reason: DeadLetterReason, error: String)
        /// The worker gave up on it (shutdown past the grace period, or its task cancelled).
        case abandoned
        /// The handler threw ``HandBackError``: the job did not run. Handed back as an
        /// abandoned job is, then the slot stays idle for `pause`.
        case handedBack(error: String, pause: Duration)

        /// Whether settling it runs a script (acknowledgements go in batches instead).
        var needsRedis: Bool {
            switch self {
            case .succeeded, .duplicate: false
            case .failed, .deadLetter, .abandoned, .handedBack: true
            }
        }
    }

    /// Counts `entry` as running from now on (its lease is extended, shutdown waits for it):
    /// call it before handing the entry to a task, so a shutdown that begins before the task
    /// starts still sees the job and can cancel it past the grace period. With `waitsForSlot`,
    /// the job is held for a slot: its lease is extended, but no handler runs yet.
    func markRunning(_ entry: StreamEntry, waitsForSlot: Bool = false) {
        // (the state records `spool.worker.inflight` with the change, under its lock)
        state.started(entry.key, .init(leaseUntil: .now + leaseLength, waitsForSlot: waitsForSlot))
    }

    /// A job task: runs `first`, then, with a prefetch, the job that waited longest for a
    /// handler (``SubscriptionState/handlerEnded(takingNext:)``), else each job the fetch loop
    /// gives it (``SubscriptionState/jobs``), until the loop stops giving, so that jobs do not
    /// each start a task of their own (``Handoff``). A task left cancelled by its job (the
    /// handler overran its timeout, or the worker gave up on its jobs) runs no other: the fetch
    /// loop starts a new one.
    ///
    /// `nonisolated(nonsending)`, as are the functions a job goes through (``process(_:isDuplicate:handBack:)``,
    /// `run`, `traced`, `settle`, ``DeadlineWatch/run(_:until:_:)``, ``Handoff/next()``) and
    /// ``SpoolWorker/Handler``: each runs on its caller's executor, with no switch to the
    /// generic executor on entry or after its awaits. Such a switch is cheap on the shared
    /// pool, but a task that prefers an executor (a worker on its own thread) takes its
    /// status lock for each: taking five of its ten a job away made that worker 3.9% faster
    /// (docs/performance.md, "Stop 34").
    nonisolated(nonsending) func runJobs(first: (entry: StreamEntry, duplicate: Bool)) async {
        var job: (entry: StreamEntry, duplicate: Bool)? = first
        while let (entry, duplicate) = job {
            await process(entry, isDuplicate: duplicate)
            if Task.isCancelled {
                _ = state.handlerEnded(takingNext: false)
                return
            }
            // with a prefetch, a job read ahead that waits for a handler runs next, here
            if let next = state.handlerEnded(takingNext: true) {
                markRunning(next.entry)
                if Task.isCancelled {
                    // cancelled since the check above: the job must not start; it goes back
                    // unstarted, as the worker's stop hands back the others that wait
                    await process(next.entry, isDuplicate: next.duplicate, handBack: true)
                    _ = state.handlerEnded(takingNext: false)
                    return
                }
                job = next
                continue
            }
            job = await state.jobs.next()
        }
    }

    /// Runs one delivered entry, marked running with ``markRunning(_:waitsForSlot:)``, to its
    /// end: success, retry, dead letter, handed back (cut off by shutdown or cancellation), or
    /// left pending (Redis did not take the outcome before the worker stopped). With
    /// `handBack`, no handler runs: the job is handed back to its group as the same attempt, as
    /// a job cut off by shutdown is (a duplicate is still acknowledged, a malformed entry still
    /// dead-lettered).
    nonisolated(nonsending) func process(_ entry: StreamEntry, isDuplicate: Bool, handBack: Bool = false) async {
        defer { state.ended(entry.key) }

        guard let fields = entry.fields else {
            // deleted while pending: XCLAIM already dropped it from the pending list
            state.slots.release(1)
            return
        }
        var envelope: JobEnvelope
        do {
            envelope = try JobEnvelope.decode(fields: fields)
            if envelope.id.version != 7 && Self.field(EnvelopeField.enqueuedAt.name, in: fields) == nil {
                // only a UUIDv7 carries a time: another id's default is when Redis added the
                // entry (a retry then writes it out, so it stays the first enqueue's time)
                envelope.enqueuedAt = entry.id.unixMilliseconds
            }
            try JobEnvelope.checkPayloadSize(envelope.payload.count, limit: configuration.maxPayloadBytes)
        } catch {
            await settle(entry, fields: fields, envelope: nil, attempt: 1,
                         outcome: .deadLetter(reason: .malformed, error: error.message))
            return
        }
        let handler = subscription.handlers[envelope.type] ?? subscription.fallback
        let strategy = handler?.retry ?? options.retry
        let maxAttempts = envelope.maxAttempts ?? strategy.maxAttempts
        // saturating: `attempt` is whatever the entry says, up to Int.max
        let redelivered = envelope.attempt.addingReportingOverflow(max(0, entry.deliveries - 1))
        var attempt = redelivered.overflow ? Int.max : redelivered.partialValue

        // delivered again past its attempts: its worker may crash on it
        let pastItsAttempts = entry.deliveries > 1 && attempt > maxAttempts
        let outcome: Outcome
        if isDuplicate {
            outcome = .duplicate
        } else if handBack && !pastItsAttempts {
            // (past its attempts, it is dead-lettered below, as it would be when run)
            outcome = .abandoned
        } else if let handler {
            if pastItsAttempts {
                outcome = .deadLetter(
                    reason: .maxDeliveries,
                    error: "delivered \(entry.deliveries) times without finishing (its worker may crash on it); "
                        + "attempt \(attempt) exceeds max attempts \(maxAttempts)"
                )
                // this delivery does not run: the dead letter records the last attempt made
                attempt -= 1
            } else {
                outcome = await run(handler, envelope, entry: entry, attempt: attempt, maxAttempts: maxAttempts)
            }
        } else {
            outcome = .deadLetter(
                reason: .noHandler,
                error: "no handler for job type \"\(envelope.type)\" in group \(group) of queue \(keys.queue): register one, then replay"
            )
        }
        if Task.isCancelled, outcome.needsRedis {
            // a handler that timed out (or was given up on) leaves this task cancelled; record
            // the outcome from a task that is not, so the waits between attempts to reach
            // Redis still wait
            await Task(executorPreference: executor) {
                await settle(entry, fields: fields, envelope: envelope, attempt: attempt, outcome: outcome,
                             strategy: strategy, maxAttempts: maxAttempts)
            }.value
        } else {
            await settle(entry, fields: fields, envelope: envelope, attempt: attempt, outcome: outcome,
                         strategy: strategy, maxAttempts: maxAttempts)
        }
    }

    nonisolated(nonsending) private func run(
        _ handler: RegisteredHandler, _ envelope: JobEnvelope, entry: StreamEntry, attempt: Int, maxAttempts: Int
    ) async -> Outcome {
        await traced(envelope, attempt: attempt) { traceparent, tracestate in
            await run(
                handler, envelope, entry: entry, attempt: attempt, maxAttempts: maxAttempts, traceparent: traceparent,
                tracestate: tracestate
            )
        }
    }

    nonisolated(nonsending) private func run(
        _ handler: RegisteredHandler, _ envelope: JobEnvelope, entry: StreamEntry, attempt: Int, maxAttempts: Int,
        traceparent: String?, tracestate: String?
    ) async -> Outcome {
        let context = JobContext(
            id: envelope.id, queue: keys.queue, group: group, type: envelope.type, attempt: attempt,
            maxAttempts: maxAttempts, enqueuedAt: envelope.enqueuedAt, deliveryCount: entry.deliveries,
            headers: envelope.headers, traceparent: traceparent, tracestate: tracestate, workerName: consumer, workerLogger: logger
        )
        let timeout = handler.timeout ?? options.handlerTimeout
        let typeMetrics = metrics.type(envelope.type)
        // Time in the queue: since the entry entered the stream it was read from (the main
        // stream when pushed or when its delay ended, the retry stream when its backoff ended
        // or it was handed back), not since the first push: a delay or a backoff is not
        // waiting for a worker. (A reclaimed entry's includes its time with the dead worker.)
        typeMetrics.queued.recordMilliseconds(max(0, JobID.currentMillis() - entry.id.unixMilliseconds))
        let started = ContinuousClock.now
        // the handler runs in this task; past its deadline the watch cancels the task
        let (failure, timedOut) = await state.deadlines.run(entry.key, until: .now + timeout) {
            try await handler.run(envelope, context)
        }
        let ran = ContinuousClock.now - started
        // Past the deadline the job failed, even if the handler then returned normally.
        // Cancelled from outside (shutdown past its grace period, or the worker's task was
        // cancelled): the worker gave up on it, so it is neither acknowledged nor failed.
        // Neither that nor a hand-back (the job did not start) is an outcome of the handler:
        // no duration is recorded for them.
        if !timedOut && Task.isCancelled { return .abandoned }
        if !timedOut, let error = failure as? HandBackError {
            return .handedBack(error: error.message, pause: error.pause)
        }
        typeMetrics.duration.record(duration: ran)
        if !timedOut {
            guard let error = failure else { return .succeeded }
            if let error = error as? NonRetryableError {
                return .deadLetter(reason: .nonRetryable, error: error.message)
            }
        }
        let text = timedOut ? "handler timed out after \(timeout)" : failure.map { ($0 as? SpoolError)?.message ?? "\($0)" } ?? ""
        context.logger.info("handler failed", metadata: ["error": "\(text)"])
        return .failed(error: text)
    }

    /// Records the outcome in Redis: acknowledge (batched), schedule a retry or dead-letter
    /// (one atomic script each), or leave the job pending.
    nonisolated(nonsending) private func settle(
        _ entry: StreamEntry, fields: [[UInt8]], envelope: JobEnvelope?, attempt: Int, outcome: Outcome,
        strategy: RetryStrategy = .none, maxAttempts: Int = 1
    ) async {
        let typeMetrics = metrics.type(envelope?.type)
        switch outcome {
        case .succeeded: typeMetrics.succeeded.increment()
        case .duplicate: typeMetrics.duplicate.increment()
        case .failed where envelope != nil && attempt < maxAttempts: typeMetrics.retried.increment()
        case .failed, .deadLetter: typeMetrics.dead.increment()
        case .abandoned: typeMetrics.abandoned.increment()
        case .handedBack: typeMetrics.handedBack.increment()
        }
        switch outcome {
        case .succeeded, .duplicate:
            // acknowledged in batches: with the next fetch, or by the flusher
            state.complete(.init(entryID: entry.id, source: entry.source, jobID: envelope?.id))
            state.slots.release(1)
            return
        case .abandoned, .handedBack:
            // A worker that cannot start jobs hands back every one it takes: said once, then at
            // most every 30 s per subscription, with how many went unsaid in between (each is
            // counted in `spool.jobs.processed{status=handed_back}`).
            if case .handedBack(let error, _) = outcome, let unsaid = state.handBackToReport() {
                var metadata: Logger.Metadata = [
                    "spool.job.id": "\(envelope.map { "\($0.id)" } ?? "-")", "spool.attempt": "\(attempt)", "error": "\(error)",
                ]
                if unsaid > 0 { metadata["spool.unlogged"] = "\(unsaid)" }
                logger.error("the job did not start; handed back unstarted, as the same attempt", metadata: metadata)
            }
            // Handed back to the group, to run again as this same attempt: the worker stopped,
            // the job did not fail. Left pending, it would be reclaimed as one more delivery,
            // and deliveries count as attempts (for workers that die on a job), so each deploy
            // that cut it off would use up an attempt, and a job without retries would be
            // dead-lettered without having failed. If Redis cannot be reached, it stays
            // pending and is reclaimed like a dead worker's.
            if var handedBack = envelope {
                handedBack.attempt = attempt
                var command = failCommand(entry, action: "retry", due: JobID.currentMillis(), extra: 16)
                handedBack.encodeFields(into: &command)
                await runFailScript(command, entry)
            }
        case .failed(let error) where envelope != nil && attempt < maxAttempts:
            var retried = envelope!
            retried.attempt = attempt + 1
            retried.recordFirstFailure(error)
            let delay = strategy.delay(afterAttempt: attempt)
            let due = JobID.currentMillis() + delay.milliseconds
            var command = failCommand(entry, action: "retry", due: due, extra: 16)
            retried.encodeFields(into: &command)
            await runFailScript(command, entry)
        case .failed(let error):
            await deadLetter(entry, fields: fields, envelope: envelope, attempt: attempt, reason: .retriesExhausted, error: error)
        case .deadLetter(let reason, let error):
            await deadLetter(entry, fields: fields, envelope: envelope, attempt: attempt, reason: reason, error: error)
        }
        if case .handedBack(_, let pause) = outcome {
            await idle(for: pause)
        }
        state.slots.release(1)
    }

    /// Keeps a slot idle for `pause` after a job was handed back unstarted, so a worker that
    /// cannot start jobs does not take the next one at once (with every slot idle it fetches
    /// nothing); a shutdown or cancellation ends the pause.
    private func idle(for pause: Duration) async {
        let end = ContinuousClock.now + pause
        while !state.isStopping && !Task.isCancelled {
            let left = end - .now
            if left <= .zero { return }
            try? await Task.sleep(for: min(left, .milliseconds(100)))
        }
    }

    private func deadLetter(
        _ entry: StreamEntry, fields: [[UInt8]], envelope: JobEnvelope?, attempt: Int, reason: DeadLetterReason, error: String
    ) async {
        var command = failCommand(entry, action: "dead", due: 0, extra: 20)
        let record = DeadLetterRecord(
            queue: keys.queue, group: group, entryID: entry.id.description, worker: consumer, attempt: attempt,
            reason: reason, error: error
        )
        record.encode(original: fields, envelope: envelope, into: &command)
        logger.warning("job dead-lettered", metadata: [
            "spool.job.id": "\(envelope.map { "\($0.id)" } ?? Self.rawJobID(fields))", "spool.reason": "\(reason.rawValue)", "error": "\(error)",
        ])
        await runFailScript(command, entry)
    }

    /// An unreadable entry's `id` field as its dead letter keeps it (the log must name the job
    /// an operator will find there), cut at 100 characters; `-` without one.
    static func rawJobID(_ fields: [[UInt8]]) -> String {
        guard let id = field("id", in: fields) else { return "-" }
        return id.count > 100 ? id.prefix(100) + "…" : id
    }

    private func failCommand(_ entry: StreamEntry, action: String, due: Int64, extra: Int) -> RedisCommand {
        var command = RedisCommand(name: "EVALSHA", reservingBytes: 512, arguments: 32 + extra)
        command.append(SpoolScripts.fail.sha1)
        command.append(3)
        command.append(entry.source == .main ? keys.stream : retryStream)
        command.append(scheduled)
        command.append(dead)
        command.append(group.rawValue)
        command.append(entry.id)
        command.append(entry.source == .retry ? "1" : "0")
        command.append(action)
        command.append(due)
        command.attach(SpoolScripts.fail)
        // not sent again by the client after a lost reply: the worker does that itself
        // (`runFailScript`), after any failure, and a second run finds the entry settled
        command.allowsResendAfterLostReply = false
        return command
    }

    /// Runs a fail command, sending it again while Redis is unreachable or refuses it; gives up
    /// only once the worker stops, gracefully or cancelled (the job then stays pending and is
    /// reclaimed, so nothing is lost).
    private func runFailScript(_ command: RedisCommand, _ entry: StreamEntry) async {
        var failures = 0
        var lastReport: ContinuousClock.Instant?
        while true {
            do {
                _ = try await client.send(command)
                if lastReport != nil {
                    logger.info("recording the failed job was accepted at last", metadata: ["spool.entry": "\(entry.id)"])
                }
                return
            } catch {
                failures += 1
                // Refused (a key of another type, an ACL without the command, out of memory)
                // or not delivered: the job keeps its slot and its lease, and the outcome is
                // sent again until Redis takes it, so fixing the cause needs no restart. Left
                // pending instead, it would wait for the visibility timeout and another
                // worker (never this one). Said at error level once, then every 30 s.
                if let redisError = error as? RedisError, redisError.code == .serverError || redisError.code == .noPermission,
                   lastReport.map({ ContinuousClock.now - $0 >= .seconds(30) }) ?? true {
                    lastReport = .now
                    logger.error("Redis refused to record a failed job; sending it again until it is accepted",
                                 metadata: ["spool.entry": "\(entry.id)", "error": "\(error)"])
                }
                // stopping: it stays pending, and is reclaimed once this worker's heartbeat is gone
                if state.isStopping && failures > 3 { return }
                try? await Task.sleep(for: min(.milliseconds(50) * (1 << min(failures, 6)), .seconds(2)))
            }
        }
    }
}
