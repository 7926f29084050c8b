import CoreMetrics
import Logging
import SpoolRedis

extension SubscriptionRunner {
    /// Background upkeep until the subscription finishes, in two loops of their own: the
    /// heartbeat (with the lease extensions and the handler deadlines), and the rest
    /// (promotion of due retries and delayed jobs, safe trimming, the gauges). Apart, so that
    /// nothing slow in the second holds up the heartbeat: on a cluster a promotion waits out a
    /// slot migration for 6 to 12 s (`TRYAGAIN`, docs/cluster.md), longer than the heartbeat
    /// TTL, and other workers took the running jobs of a worker whose heartbeat lapsed.
    ///
    /// A cancelled worker stops at once: its waits would no longer wait, so looping on until
    /// its handlers end (one may ignore cancellation) would spin. Its heartbeat then lapses,
    /// and other workers take over what it leaves.
    func keep() async {
        await withTaskGroup(of: Void.self) { loops in
            loops.addTask { await beat() }
            await upkeep()
        }
    }

    /// Every heartbeat interval: the heartbeat and the leases of running jobs; and the
    /// handler deadlines, every 50 ms while any is set.
    private func beat() async {
        let clock = ContinuousClock()
        var nextBeat = clock.now
        var failing = Failures(what: "heartbeat")
        while !state.isFinished && !Task.isCancelled {
            let now = clock.now
            if now >= nextBeat {
                nextBeat = now + configuration.heartbeatInterval
                do {
                    try await beatAndExtendLeases(now: now)
                    state.noteBeat(sentAt: now)
                    failing.reset()
                } catch {
                    failing.note(error, logger)
                }
            }
            state.deadlines.fire(now: clock.now)
            var wake = nextBeat
            if !state.deadlines.isEmpty { wake = min(wake, clock.now + .milliseconds(50)) }
            if wake > clock.now {
                _ = await state.stopRequested.wait(timeout: wake - clock.now)
            }
        }
    }

    /// Promotion of due retries and delayed jobs, safe trimming and the queue gauges, each at
    /// its interval.
    private func upkeep() async {
        let clock = ContinuousClock()
        var nextPromote = clock.now
        var nextTrim = clock.now + configuration.trimInterval
        var nextGauges = configuration.metricsInterval.map { _ in clock.now }
        var failing = Failures(what: "upkeep (promoting due jobs, trimming)")
        while !state.isFinished && !Task.isCancelled {
            let now = clock.now
            do {
                if now >= nextPromote {
                    nextPromote = now + configuration.promoteInterval
                    try await promote()
                }
                if now >= nextTrim {
                    nextTrim = now + configuration.trimInterval
                    try await trim()
                }
                if let due = nextGauges, let interval = configuration.metricsInterval, now >= due {
                    nextGauges = now + interval
                    try await recordGauges()
                }
                failing.reset()
            } catch {
                failing.note(error, logger)
            }
            let wake = min(nextPromote, nextTrim, nextGauges ?? nextTrim)
            if wake > clock.now {
                _ = await state.upkeepStopRequested.wait(timeout: wake - clock.now)
            }
        }
    }

    /// Rounds of a loop that failed in a row: a blip (Redis restarting) is logged at debug, a
    /// failure that persists at warning.
    private struct Failures {
        let what: String
        var count = 0

        mutating func reset() { count = 0 }

        mutating func note(_ error: any Error, _ logger: Logger) {
            count += 1
            let persists = count == 5 || count % 100 == 0
            logger.log(
                level: persists ? .warning : .debug,
                persists ? "\(what) keeps failing; will retry" : "\(what) failed; will retry",
                metadata: ["error": "\(error)", "spool.failures": "\(count)"]
            )
        }
    }

    /// Reads the queue's state for the gauges (the same figures as `spool queues`).
    private func recordGauges() async throws {
        let status = try await SpoolInspector(client: client, prefix: keys.prefix).status(of: keys.queue)
        if let mine = status.groups.first(where: { $0.group == group.rawValue }) {
            metrics.record(mine, length: status.length)
        }
    }

    /// Refreshes the heartbeat and resets the idle time of running jobs (XCLAIM JUSTID to
    /// ourselves), so a live worker's long job is never taken over.
    private func beatAndExtendLeases(now: ContinuousClock.Instant) async throws {
        var commands = [RedisCommand("SET", heartbeat, "1", "PX", String(configuration.heartbeatTTL.milliseconds))]
        let leases = state.leasesToExtend(now: now)
        for (stream, ids) in [(keys.stream, leases.main), (retryStream, leases.retry)] where !ids.isEmpty {
            var claim = RedisCommand("XCLAIM", stream, group.rawValue, consumer, "0")
            for id in ids { claim.append(id) }
            claim.append("JUSTID")
            commands.append(claim)
        }
        let replies = try await client.pipeline(commands)
        // a refused heartbeat (out of memory under `noeviction`, a read-only replica, an ACL)
        // is a failed one: it came back as a value, and was taken for written
        if let refusal = replies.first?.errorMessage {
            throw RedisError.reply(refusal, address: client.redactedAddress)
        }
    }

    /// Moves due retries into the group's retry stream and due delayed jobs into the queue.
    ///
    /// A call moves at most 100 members (a short script, so Redis serves others between
    /// calls); a schedule that gave a full 100 is called again at once, up to 50 times a
    /// pass. At one call per pass, 100k jobs due at once took four minutes to promote.
    private func promote() async throws {
        var schedules = [(scheduled, retryStream), (keys.delayed, keys.stream)]
        for _ in 0..<Self.promoteCallsPerPass where !schedules.isEmpty {
            let now = String(JobID.currentMillis())
            let replies = try await client.pipeline(schedules.map { schedule, stream in
                .evalSHA(SpoolScripts.promote, keys: [schedule, stream], arguments: [now, String(Self.promoteBatch)])
            })
            if let failure = replies.lazy.compactMap(\.errorMessage).first {
                throw RedisError.reply(failure, address: client.redactedAddress)
            }
            schedules = zip(schedules, replies).filter { $0.1.int == Self.promoteBatch }.map(\.0)
        }
    }

    /// The most members one promote call moves.
    static var promoteBatch: Int { 100 }

    /// The most promote calls per schedule in one pass.
    static var promoteCallsPerPass: Int { 50 }

    /// Trims entries every group is done with and applies the optional hard cap, counting
    /// what the cap dropped: one script (``SpoolScripts/trim``), so no group created meanwhile
    /// loses entries it would read. What the cap dropped are jobs some group had not finished,
    /// lost: counted in `spool.jobs.dropped` and said at warning.
    private func trim() async throws {
        let cap = configuration.maxStreamLength ?? 0
        let reply = try await client.send(.evalSHA(SpoolScripts.trim, keys: [keys.stream, keys.meta], arguments: [String(cap)]))
        let parts = reply.array ?? []
        let dropped = parts.count >= 2 ? parts[1].int ?? 0 : 0
        if dropped > 0 {
            metrics.dropped.increment(by: dropped)
            var metadata: Logger.Metadata = ["spool.dropped": "\(dropped)", "spool.cap": "\(cap)"]
            if parts.count >= 3, let counter = parts[2].string, !counter.isEmpty {
                // (the entries are gone all the same: only the counter `spool inspect` shows is off)
                metadata["spool.counter_error"] = "\(keys.meta): \(counter)"
            }
            logger.warning("stream over its hard cap (maxStreamLength): dropped entries some group had not finished; those jobs are lost",
                           metadata: metadata)
        }
    }

    /// Acknowledges completed jobs the fetch loop did not take with its next fetch (it does,
    /// under load): after a 2 ms pause, whatever is left goes in one script call, unless the
    /// fetch loop read meanwhile (then its next read takes them, and the flusher waits again,
    /// so a busy worker acknowledges once per read, not twice). A failed batch is retried;
    /// once the subscription finished it gives up after a few tries and the jobs stay pending
    /// (they run again elsewhere: at-least-once).
    ///
    /// A cancelled worker gets one last try for what finished, then the flusher returns (its
    /// waits would no longer wait, so it would spin).
    func flushAcknowledgements() async {
        var failures = 0
        while true {
            await state.acksReady.wait()
            let cancelled = Task.isCancelled
            if !state.isFinished && !cancelled {
                let reads = state.readsCarryingAcks
                try? await Task.sleep(for: .milliseconds(2))
                // a read since then took every completion queued before it; later ones rang
                // `acksReady` again, so this loop comes back for them
                if state.readsCarryingAcks != reads && !state.isFinished && !Task.isCancelled { continue }
            }
            while true {
                let batch = state.takeCompletions()
                if batch.isEmpty { break }
                do {
                    // (acknowledging alone goes through the script: it acknowledges or throws)
                    _ = try await acknowledgeAndRead(count: 0, readRetries: false, completions: batch.completions)
                    state.settle(batch, acknowledged: true)
                    failures = 0
                } catch {
                    failures += 1
                    logger.info("acknowledging jobs failed; retrying", metadata: ["error": "\(error)", "spool.count": "\(batch.completions.count)"])
                    if cancelled || (state.isFinished && failures > 3) { state.abandon(batch); continue }
                    state.settle(batch, acknowledged: false)
                    try? await Task.sleep(for: min(.milliseconds(50) * (1 << min(failures, 6)), .seconds(2)))
                }
            }
            if cancelled || (state.isFinished && state.takeCompletions().isEmpty) { return }
        }
    }

    /// Appends `now, forget-before, main count, retry count, main ids, retry ids, job ids` —
    /// the acknowledgement arguments of the fetch script.
    func appendAcknowledgements(_ batch: [SubscriptionState.Completion], to command: inout RedisCommand) {
        let now = JobID.currentMillis()
        command.append(now)
        command.append(options.dedup ? max(1, now - configuration.dedupWindow.milliseconds) : 0)
        var mainCount = 0
        for completion in batch where completion.source == .main { mainCount += 1 }
        command.append(mainCount)
        command.append(batch.count - mainCount)
        for completion in batch where completion.source == .main { command.append(completion.entryID) }
        for completion in batch where completion.source == .retry { command.append(completion.entryID) }
        if options.dedup {
            for completion in batch where completion.source == .main { completion.jobID?.withUTF8 { command.append($0) } }
            for completion in batch where completion.source == .retry { completion.jobID?.withUTF8 { command.append($0) } }
        }
    }

    /// Appends the transaction that does what the fetch script does with `batch`, in native
    /// commands: `MULTI`, `XACK` of the main stream's entries, `XACK` and `XDEL` of the retry
    /// stream's, with dedup on `ZADD` of the job ids to the done set (scored now) and
    /// `ZREMRANGEBYSCORE` of those older than the dedup window, `EXEC`. Atomic like the
    /// script, without its cost of turning arguments into Lua values.
    func appendAcknowledgements(_ batch: [SubscriptionState.Completion], to commands: inout [RedisCommand]) {
        var mainCount = 0
        var recorded = 0
        for completion in batch {
            if completion.source == .main { mainCount += 1 }
            if completion.jobID != nil { recorded += 1 }
        }
        let retryCount = batch.count - mainCount
        commands.append(Self.multi)
        let groupBytes = group.rawValue.utf8.count
        if mainCount > 0 {
            var acknowledge = RedisCommand(name: "XACK", reservingBytes: 48 + keys.stream.utf8.count + groupBytes + 32 * mainCount, arguments: 2 + mainCount)
            acknowledge.append(keys.stream)
            acknowledge.append(group.rawValue)
            for completion in batch where completion.source == .main { acknowledge.append(completion.entryID) }
            commands.append(acknowledge)
        }
        if retryCount > 0 {
            var acknowledge = RedisCommand(name: "XACK", reservingBytes: 48 + retryStream.utf8.count + groupBytes + 32 * retryCount, arguments: 2 + retryCount)
            acknowledge.append(retryStream)
            acknowledge.append(group.rawValue)
            var delete = RedisCommand(name: "XDEL", reservingBytes: 48 + retryStream.utf8.count + 32 * retryCount, arguments: 1 + retryCount)
            delete.append(retryStream)
            for completion in batch where completion.source == .retry {
                acknowledge.append(completion.entryID)
                delete.append(completion.entryID)
            }
            commands.append(acknowledge)
            commands.append(delete)
        }
        if options.dedup && recorded > 0 {
            let now = JobID.currentMillis()
            var record = RedisCommand(name: "ZADD", reservingBytes: 48 + done.utf8.count + 64 * recorded, arguments: 1 + 2 * recorded)
            record.append(done)
            for completion in batch {
                guard let jobID = completion.jobID else { continue }
                record.append(now)
                jobID.withUTF8 { record.append($0) }
            }
            commands.append(record)
            var forget = RedisCommand(name: "ZREMRANGEBYSCORE", reservingBytes: 64 + done.utf8.count, arguments: 3)
            forget.append(done)
            forget.append("-inf")
            forget.append("(\(max(1, now - configuration.dedupWindow.milliseconds))")
            commands.append(forget)
        }
        commands.append(Self.exec)
    }

    private static let multi = RedisCommand("MULTI")
    private static let exec = RedisCommand("EXEC")
}
