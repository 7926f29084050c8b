import CoreMetrics
import Logging
import Metrics
import SpoolRedis

extension SubscriptionRunner {
    /// The fetch loop: take free slots, after a failed read run what it may have delivered
    /// unseen (``recoverUnseenEntries(limit:)``), reclaim lost jobs, then acknowledge what
    /// finished and read due retries and new jobs
    /// (``acknowledgeAndRead(count:readRetries:completions:)``); when nothing is there, block
    /// on the main stream. Gives each job to a job task waiting for one (``Handoff``), or starts
    /// one. On shutdown, waits for running handlers within the grace period.
    ///
    /// - Returns: the client's error when the `RedisClient` was shut down while the worker was
    ///   not stopping (the worker cannot go on, and says so), else `nil`.
    func fetchAndRun() async -> RedisError? {
        await withDiscardingTaskGroup { handlers in
            // Job tasks waiting for their next job end only when the handoff closes (below,
            // once the loop ends); closed here too, should this body ever be left another way.
            defer { state.jobs.close() }
            var lastReclaim = ContinuousClock.now - configuration.heartbeatInterval
            // whose heartbeats were seen gone, and since when (`LapseWatch`)
            var lapses = LapseWatch(
                grace: configuration.heartbeatInterval + client.configuration.reconnectMaxDelay + client.configuration.connectTimeout
            )
            var lastRetryRead = ContinuousClock.now - .seconds(1)
            var failures = 0
            var clientGone = false
            // the client's error, when it was shut down under a worker that was not stopping
            var shutDownUnder: RedisError?
            // the last blocking read got fewer jobs than it asked for: the streams were
            // drained then, so the next read blocks at once (it returns at once if jobs came
            // meanwhile) rather than asking first without blocking, which would take a round
            // trip just as the handlers start (docs/performance.md, "Stop 16")
            var drained = false
            // a read or a reclaim failed: it may have been carried out without its reply
            // reaching this worker, delivering entries it never saw (``recoverUnseenEntries``)
            var unseen = false
            // the next batches, asked for once the handlers of this one have started (see
            // `sendReadAheads`): at most two reads in flight, awaited in the order they went out
            var aheads: [ReadAhead] = []
            // entries a read delivered beyond the free slots (a blocking read over both streams
            // takes up to its count from each): marked running, so their leases are extended,
            // and started first as slots free, before anything more is read; and entries a read
            // delivered after the worker's task was cancelled. What is left when the loop ends,
            // with what a failed read delivered unseen, is handed back unstarted.
            var held: [(entry: StreamEntry, duplicate: Bool)] = []
            func hold(_ entries: [(entry: StreamEntry, duplicate: Bool)]) {
                for (entry, _) in entries { markRunning(entry, waitsForSlot: true) }
                held += entries
            }
            // Starts each job in a job task (marked running now): one that finished its last job,
            // else a new one.
            func start(_ jobs: [(entry: StreamEntry, duplicate: Bool)]) {
                for job in jobs {
                    markRunning(job.entry)
                    if !state.jobs.give(job) { handlers.addTask { await runJobs(first: job) } }
                }
            }
            // a cancelled worker task stops like a shutdown (its sleeps no longer wait, so
            // looping on would spin)
            while !state.isStopping && !Task.isCancelled || !aheads.isEmpty {
                var slots: Int
                var entries: [(entry: StreamEntry, duplicate: Bool)] = []
                var isolated = 0   // entries run alone in this loop; each used a slot
                var busy = false   // a read got every entry it asked for: more may be waiting
                let readAhead = !aheads.isEmpty
                if readAhead {
                    let taken = aheads.removeFirst()
                    slots = taken.slots
                    switch await taken.read.result {
                    case .success(let read):
                        entries = read
                        busy = read.count == slots
                        failures = 0
                    case .failure(let error as RedisError) where error.code == .shutdown:
                        logger.info("fetch loop ended", metadata: ["error": "\(error)"])
                        clientGone = true
                        if !state.isStopping && !Task.isCancelled { shutDownUnder = error }
                    case .failure(let error):
                        unseen = true
                        failures += 1
                        await handleFetchError(error, failures: failures)
                    }
                } else {
                    slots = await state.slots.acquire(max: slotCount, wakeable: options.prefetch > 0)
                    let stopping = state.isStopping || Task.isCancelled
                    if slots == 0 && stopping { break }
                    // With a prefetch, jobs waiting for a handler that has room start now, before
                    // this round reads: a handler cancelled by its timeout frees room without
                    // starting the next (it wakes this loop, with no slot: 0), and its slot may
                    // send this loop into a blocking read.
                    if options.prefetch > 0 && !stopping {
                        start(state.admit([], takeWaiting: true, leaseUntil: .now + leaseLength).start)
                    }
                    if slots == 0 { continue }
                }
                let fromHeld = !readAhead && !held.isEmpty
                if fromHeld {
                    let count = min(slots, held.count)
                    entries = Array(held.prefix(count))
                    held.removeFirst(count)
                }
                if !readAhead && !fromHeld {
                    do {
                        // A job whose worker died twice while running it may be what kills
                        // workers: each such job runs alone, so the jobs that happened to run
                        // beside it are not charged for its crashes. Reclaims bring them, and
                        // so does the recovery of a reclaim whose reply was lost.
                        var suspects: [(entry: StreamEntry, duplicate: Bool)] = []
                        if unseen && !state.isStopping {
                            let recovered = try await recoverUnseenEntries(limit: slots)
                            unseen = recovered.more
                            for item in recovered.entries {
                                if item.entry.deliveries >= Self.suspectDeliveries { suspects.append(item) } else { entries.append(item) }
                            }
                        }
                        let now = ContinuousClock.now
                        if now - lastReclaim >= configuration.heartbeatInterval && entries.count + suspects.count < slots {
                            lastReclaim = now
                            // this worker's own heartbeat has not been written for most of a
                            // TTL: Redis may not take the others' either (away, out of memory,
                            // read-only), and a live one's may lapse too; such a round forgets
                            // every sighting and records none
                            let stale = state.sinceLastBeat(now: now).map { $0 >= configuration.heartbeatTTL - configuration.heartbeatInterval } ?? true
                            if stale { lapses.forget() }
                            let reclaimed = try await reclaim(
                                limit: slots - entries.count - suspects.count, lapses: &lapses, seeing: !stale
                            )
                            let duplicates = await completedJobs(reclaimed)
                            for entry in reclaimed {
                                let item = (entry: entry, duplicate: duplicates.contains(entry.key))
                                if entry.deliveries >= Self.suspectDeliveries { suspects.append(item) } else { entries.append(item) }
                            }
                        }
                        if !suspects.isEmpty {
                            // the others wait meanwhile: their leases are extended
                            for (entry, _) in entries { markRunning(entry, waitsForSlot: true) }
                            for (entry, _) in suspects { markRunning(entry, waitsForSlot: true) }
                        }
                        for (entry, duplicate) in suspects {
                            isolated += 1
                            if !(await runIsolated(entry, isDuplicate: duplicate, in: &handlers)) {
                                // the worker stops first: handed back when the loop ends
                                held.append((entry, duplicate))
                            }
                        }
                        if entries.count + isolated < slots && !state.isStopping && !drained {
                            let readRetries = now - lastRetryRead >= configuration.promoteInterval
                            if readRetries { lastRetryRead = now }
                            let batch = state.takeCompletions(forRead: true)
                            let asked = slots - entries.count - isolated
                            let read = try await acknowledgeAndRead(count: asked, readRetries: readRetries, batch: batch)
                            busy = read.count == asked && isolated == 0
                            entries += read
                        }
                        if entries.isEmpty && isolated == 0 && !state.isStopping {
                            // Jobs read ahead that wait for a handler start when one ends; one
                            // cancelled by its timeout leaves that to this loop, which a long
                            // blocking read would hold up: while jobs wait, it blocks briefly.
                            let jobsWait = options.prefetch > 0 && state.waitingJobCount > 0
                            entries += try await blockingRead(count: slots, block: jobsWait ? Self.blockWhileJobsWait : nil)
                            drained = entries.count < slots
                        } else {
                            drained = false
                        }
                        failures = 0
                    } catch let error as RedisError where error.code == .shutdown {
                        // the client was shut down: nothing more can be fetched
                        logger.info("fetch loop ended", metadata: ["error": "\(error)"])
                        clientGone = true
                        if !state.isStopping && !Task.isCancelled { shutDownUnder = error }
                    } catch {
                        unseen = true
                        failures += 1
                        await handleFetchError(error, failures: failures)
                    }
                }
                // each entry gives its slot back when it is settled; return the unused ones
                let used = entries.count + isolated
                if used < slots { state.slots.release(slots - used) }
                if used > slots {
                    // A blocking read over both streams returns up to its count from each when
                    // both had jobs at once. The excess waits for slots: `concurrency` bounds
                    // the handlers running at once.
                    let excess = min(used - slots, entries.count)
                    hold(Array(entries.suffix(excess)))
                    entries.removeLast(excess)
                    logger.debug("a read delivered more jobs than slots were free; they start as slots free",
                                 metadata: ["spool.waiting": "\(excess)"])
                }
                if Task.isCancelled && !entries.isEmpty {
                    // The worker's task was cancelled while a read was out: nothing more
                    // starts. Left pending, these would be reclaimed as one more delivery each.
                    hold(entries)
                    entries.removeAll()
                }
                // With a prefetch, what would make more than `concurrency` handlers waits for one
                // to end (those waiting already start first, unless the worker stops or its task
                // was cancelled), marked as waiting before a job task can take it.
                start(state.admit(entries, takeWaiting: !state.isStopping && !Task.isCancelled, leaseUntil: .now + leaseLength).start)
                // While the queue is busy, ask for the next batches now, with the slots free, so
                // Redis works on them while these handlers run. Yielding first lets the handlers
                // just started run up to their first suspension (or to their end): short jobs
                // give their slots back before the reads ask, so they ask for more.
                if busy { await Task.yield() }
                let now = ContinuousClock.now
                if busy && !clientGone && !state.isStopping && !Task.isCancelled
                    && now - lastReclaim < configuration.heartbeatInterval {
                    let readRetries = now - lastRetryRead >= configuration.promoteInterval
                    if sendReadAheads(&aheads, readRetries: readRetries) && readRetries { lastRetryRead = now }
                }
                if clientGone && aheads.isEmpty { break }
            }
            // nothing more is given to the job tasks: those waiting end, the others once their
            // job has
            state.jobs.close()
            // Stopping after a failed read (or reclaim): it may have been carried out, delivering
            // entries this worker never saw. Handed back now rather than left pending, where
            // another worker would reclaim each as one more delivery (a job without retries
            // would be dead-lettered unrun). If Redis still fails, they stay pending.
            var rounds = 0
            while unseen && !clientGone && rounds < 64 {
                rounds += 1
                guard let recovered = try? await recoverUnseenEntries(limit: 256) else { break }
                hold(recovered.entries)
                unseen = recovered.more
            }
            // Stopping (or cancelled) with jobs still waiting for a slot: none of them started,
            // so each is handed back to its group as the same attempt, as a job cut off by
            // shutdown is.
            for (entry, duplicate) in held + state.takeWaitingJobs() {
                handlers.addTask { await process(entry, isDuplicate: duplicate, handBack: true) }
            }
            state.beginStop()
            // a ring can be stale (rung while the last fetch's jobs were not counted yet): re-check
            let graceOver = ContinuousClock.now + configuration.gracePeriod
            while state.runningCount > 0 {
                let left = graceOver - .now
                let rang = left > .zero ? await state.drained.wait(timeout: left) : false
                if !rang {
                    logger.info("grace period over; cancelling unfinished jobs, each handed back to its group (pending for reclaim if Redis cannot be reached)",
                                metadata: ["spool.running": "\(state.runningCount)"])
                    handlers.cancelAll()
                    break
                }
            }
            return shutDownUnder
        }
    }

    /// A read sent while the handlers of the batch before it run.
    struct ReadAhead {
        let slots: Int
        let read: Task<[(entry: StreamEntry, duplicate: Bool)], any Error>
    }

    /// How long a blocking read waits while jobs read ahead wait for a handler (see its call).
    static var blockWhileJobsWait: Duration { .milliseconds(50) }

    /// The slots of the pool: one per job the worker may hold, `concurrency` running and
    /// ``SpoolWorker/SubscriptionOptions/prefetch`` more waiting (``SubscriptionState/admit(_:takeWaiting:leaseUntil:)``).
    private var slotCount: Int { options.concurrency + options.prefetch }

    /// The fewest slots a read asks for while another read is in flight.
    static var pipelinedReadMinimum: Int { 8 }

    /// The sizes of the reads to send now, with `free` slots free and `inFlight` reads in
    /// flight: at most two in flight. With none in flight, the free slots go out as two reads
    /// when each gets at least ``pipelinedReadMinimum``, else as one; with one in flight, a
    /// second goes out only with at least that many slots. Smaller reads would cost more per
    /// job than the overlap saves (measured: splitting 8 slots into reads of 4 was slower).
    static func readAheadSizes(free: Int, inFlight: Int) -> [Int] {
        let minimum = pipelinedReadMinimum
        switch inFlight {
        case 0 where free >= 2 * minimum: return [free / 2, free - free / 2]
        case 0 where free > 0: return [free]
        case 1 where free >= minimum: return [free]
        default: return []
        }
    }

    /// Sends acknowledge-and-reads with the slots free now (sized by ``readAheadSizes``), as
    /// tasks the fetch loop awaits on its next turns; returns whether one went out (the first
    /// reads due retries when `readRetries`). They never ask for more than the free slots
    /// together (with a prefetch, the slots are `concurrency + prefetch`).
    ///
    /// Why: the loop used to wait for each read's reply before it started that batch's
    /// handlers and asked again, so the worker and Redis took turns. With a read in flight
    /// while the handlers run, both work at once; with two, Redis serves one while the
    /// worker takes in the other's reply and starts its handlers.
    private func sendReadAheads(_ aheads: inout [ReadAhead], readRetries: Bool) -> Bool {
        let free = state.slots.tryAcquire(max: slotCount)
        let sizes = Self.readAheadSizes(free: free, inFlight: aheads.count)
        let total = sizes.reduce(0, +)
        // what the reads do not ask for goes back (no one waits on the pool: only this loop takes)
        if total < free { state.slots.release(free - total) }
        guard total > 0 else { return false }
        for (index, size) in sizes.enumerated() {
            aheads.append(readAhead(slots: size, readRetries: readRetries && index == 0))
        }
        return true
    }

    /// One acknowledge-and-read of up to `slots` entries (taken from the pool by the caller),
    /// carrying the completions queued so far.
    private func readAhead(slots: Int, readRetries: Bool) -> ReadAhead {
        let batch = state.takeCompletions(forRead: true)
        let read = Task(executorPreference: executor) {
            try await acknowledgeAndRead(count: slots, readRetries: readRetries, batch: batch)
        }
        return ReadAhead(slots: slots, read: read)
    }

    /// Waits until no handler runs, then runs `entry` (marked as waiting for a slot) alone:
    /// its handler runs in `handlers`, so a shutdown's grace period covers it, and nothing
    /// else starts until it ends or the worker stops. Returns false, having started nothing,
    /// when the worker stops first (the caller hands the job back). Uses the slot the caller
    /// counted for it.
    private func runIsolated(_ entry: StreamEntry, isDuplicate: Bool, in handlers: inout DiscardingTaskGroup) async -> Bool {
        await waitUntilNoHandlerRuns()
        if state.isStopping || Task.isCancelled { return false }
        // acknowledge what finished before, so no job dies unacknowledged with this one
        let batch = state.takeCompletions()
        if !batch.isEmpty {
            _ = try? await acknowledgeAndRead(count: 0, readRetries: false, batch: batch)
        }
        logger.info("running a job alone after its workers died twice while running it",
                    metadata: ["spool.entry": "\(entry.id)", "spool.deliveries": "\(entry.deliveries)"])
        markRunning(entry)
        handlers.addTask { await process(entry, isDuplicate: isDuplicate) }
        await waitUntilNoHandlerRuns()
        return true
    }

    /// Waits until no handler runs, or the worker stops (a cancelled task's waits return at
    /// once: stop rather than spin).
    /// (With a prefetch, a job task between its job and the next it takes from those waiting
    /// counts as running: ``SubscriptionState/admittedCount``.)
    private func waitUntilNoHandlerRuns() async {
        while (state.handlerCount > 0 || state.admittedCount > 0) && !state.isStopping && !Task.isCancelled {
            await state.idle.wait()
        }
    }

    /// `XREADGROUP ... BLOCK` on the main and the retry stream, on a dedicated connection to
    /// the queue's server (leased per read, so on a cluster it follows the queue's slot):
    /// used only when a read found nothing, so an idle worker wakes the moment a job or a due
    /// retry arrives.
    ///
    /// With dedup on, the connection's thread sends `ZMSCORE` for the delivered job ids the
    /// moment the read's reply is in (``verdictsCommand(for:done:)``), and the fetch loop is
    /// woken once, with both.
    func blockingRead(count: Int, block: Duration? = nil) async throws -> [(entry: StreamEntry, duplicate: Bool)] {
        let block = block ?? configuration.fetchBlockTime
        var read = RedisCommand("XREADGROUP", "GROUP", group.rawValue, consumer, "COUNT", String(count))
        read.append("BLOCK")
        read.append(block.milliseconds)
        read.append("STREAMS")
        read.append(keys.stream)
        read.append(retryStream)
        read.append(">")
        read.append(">")
        let timeout = block + client.configuration.commandTimeout
        let done = options.dedup ? self.done : nil
        let replies = try await client.withDedicatedConnection(forKey: keys.stream) { connection in
            let replies = try await connection.pipeline([read], then: { replies in
                done.flatMap { Self.verdictsCommand(for: replies[0], done: $0) }
            }, timeout: timeout)
            // thrown inside the lease, so that a cluster client learns from it: a MOVED (the
            // queue's slot moved) updates the slot map, an UNBLOCKED (the master became a
            // replica) rereads it, and the next read goes to the new master
            if case .error(let text) = replies[0] { throw RedisError.reply(text, address: connection.redactedAddress) }
            return replies
        }
        return await withVerdicts(read: replies[0], verdicts: replies.count > 1 ? replies[1] : nil)
    }

    /// Up to `limit` entries Redis delivered to this consumer that it does not hold
    /// (``SubscriptionState/knownEntries()``), with their dedup verdicts; `more` when there
    /// are more. Entries deleted meanwhile are queued to be acknowledged instead.
    ///
    /// Why: a read (or a reclaim) can be carried out while its reply never reaches the worker.
    /// Redis runs a graceful `SHUTDOWN` from its timer, after the commands of that turn were
    /// carried out and before their replies went out; a killed Redis may have written the read
    /// to its AOF. The entries are then pending for a worker that lives on and extends no lease
    /// for them. Other workers reclaim them only past the visibility timeout, and a worker
    /// never reclaims its own: alone, it would never run them (docs/reliability.md, finding 8).
    ///
    /// The fetch loop calls this after a failed read, with no read of its own in flight. What
    /// the worker holds is taken before the pending list is read: an entry pending then and not
    /// held is one no reply brought (every entry of an answered read is marked running before
    /// the next read), and one acknowledged meanwhile is no longer pending.
    ///
    /// The pending list is read with `XPENDING`, which changes nothing, and the fields of the
    /// entries found with `XRANGE`. (`XREADGROUP`'s history form, which an earlier version
    /// used, counts one more delivery of every entry it returns, the held ones too: each scan
    /// inflated the counts of the jobs running, and a reclaim then took them for suspects or
    /// past their attempts.) The count `XPENDING` gives is the unanswered delivery's own: 1 for
    /// a read, more for a reclaim.
    func recoverUnseenEntries(limit: Int) async throws -> (entries: [(entry: StreamEntry, duplicate: Bool)], more: Bool) {
        let known = state.knownEntries()
        var unseen: [(id: StreamID, source: StreamEntry.Source, deliveries: Int)] = []
        var more = false
        let page = 256
        scan: for (stream, source) in [(keys.stream, StreamEntry.Source.main), (retryStream, .retry)] {
            var start = "-"
            while true {
                // [[id, consumer, idle ms, deliveries], ...]
                let reply = try await client.send(RedisCommand(
                    "XPENDING", stream, group.rawValue, start, "+", String(page), consumer
                ))
                let items = reply.array ?? []
                var last: StreamID?
                for item in items {
                    guard let parts = item.array, parts.count == 4, let id = StreamID(parts[0]) else { continue }
                    last = id
                    if known.contains(StreamEntry.Key(source: source, id: id)) { continue }
                    if unseen.count == limit {
                        more = true
                        break scan
                    }
                    unseen.append((id, source, max(1, parts[3].int ?? 1)))
                }
                guard items.count == page, let last else { break }
                start = "(" + last.description
            }
        }
        guard !unseen.isEmpty else { return ([], more) }
        logger.notice("found jobs delivered to this worker whose read was never answered",
                      metadata: ["spool.count": "\(unseen.count)"])
        let ranges = try await client.pipeline(unseen.map { found in
            let id = found.id.description
            return RedisCommand("XRANGE", found.source == .main ? keys.stream : retryStream, id, id)
        })
        var runnable: [StreamEntry] = []
        for (found, range) in zip(unseen, ranges) {
            if case .error(let text) = range { throw RedisError.reply(text, address: client.redactedAddress) }
            // [[id, [f, v, ...]]], or none when the entry was deleted while pending
            if let item = range.array?.first, let entry = StreamEntry(readItem: item, source: found.source), entry.fields != nil {
                runnable.append(StreamEntry(id: entry.id, source: entry.source, fields: entry.fields, deliveries: found.deliveries))
            } else {
                // deleted while pending: nothing to run, only the pending entry to clear
                state.complete(.init(entryID: found.id, source: found.source, jobID: nil))
            }
        }
        let duplicates = await completedJobs(runnable)
        return (runnable.map { ($0, duplicates.contains($0.key)) }, more)
    }

    /// `EVALSHA` of a script over this subscription's streams: keys main stream, retry stream,
    /// done set; first arguments group and consumer. The rest is the caller's.
    private func streamScript(_ script: RedisScript, reservingBytes: Int, arguments: Int) -> RedisCommand {
        var command = RedisCommand(name: "EVALSHA", reservingBytes: reservingBytes, arguments: arguments)
        command.append(script.sha1)
        command.append(3)
        command.append(keys.stream)
        command.append(retryStream)
        command.append(done)
        command.append(group.rawValue)
        command.append(consumer)
        command.attach(script)
        return command
    }

    /// ``acknowledgeAndRead(count:readRetries:completions:)`` of a batch taken from the state,
    /// settled when the call ends: put back unless Redis acknowledged it.
    func acknowledgeAndRead(
        count: Int, readRetries: Bool, batch: SubscriptionState.Acknowledgements
    ) async throws -> [(entry: StreamEntry, duplicate: Bool)] {
        do {
            let read = try await acknowledgeAndRead(count: count, readRetries: readRetries, completions: batch.completions)
            state.settle(batch, acknowledged: read.acknowledged)
            return read.entries
        } catch {
            state.settle(batch, acknowledged: false)
            throw error
        }
    }

    /// Acknowledges `completions` and reads up to `count` entries (due retries first when
    /// `readRetries`), with the dedup verdict for each; `acknowledged` is false when the
    /// acknowledgements failed and the read did not.
    ///
    /// Reading new jobs of a single server goes through ``acknowledgeThenRead(count:completions:)``
    /// (no Lua); the rest (due retries, acknowledging alone, a cluster) through the `fetch`
    /// script, in one round trip.
    func acknowledgeAndRead(
        count: Int, readRetries: Bool, completions: [SubscriptionState.Completion]
    ) async throws -> (entries: [(entry: StreamEntry, duplicate: Bool)], acknowledged: Bool) {
        if count > 0 && !readRetries && !client.isCluster {
            return try await acknowledgeThenRead(count: count, completions: completions)
        }
        var command = streamScript(SpoolScripts.fetch, reservingBytes: 128 + completions.count * 64, arguments: 16 + completions.count * 2)
        command.append(count)
        command.append(readRetries ? "1" : "0")
        command.append(options.dedup ? "1" : "0")
        appendAcknowledgements(completions, to: &command)
        // Run twice after a lost reply, a read would move entries to this consumer's pending
        // list in the first run and return others (or none) in the second: the first run's
        // would wait for the visibility timeout. Thrown, the error makes the fetch loop look
        // for them (`recoverUnseenEntries`). Acknowledging alone is safe to repeat.
        if count > 0 { command.allowsResendAfterLostReply = false }
        return (Self.parseFetchReply(try await client.send(command)), true)
    }

    /// Reads new jobs without Lua: in one flush a transaction acknowledging `completions`
    /// (``appendAcknowledgements(_:to:)``) and `XREADGROUP … COUNT count … >` on the main
    /// stream; with dedup on, the connection's thread (the worker's own, with `dedicatedThread`)
    /// sends `ZMSCORE` on the done set for the read's job ids the moment the read's reply is
    /// in, and the caller is woken once for both.
    ///
    /// Why not the `fetch` script: Redis spends about 4 µs per entry turning a read's reply
    /// into Lua tables and back, and a few more per call on the script's arguments. The
    /// second round trip costs the worker less than that saves Redis (docs/performance.md,
    /// "Stop 16").
    ///
    /// If the acknowledgements fail and the read does not, the entries are returned with
    /// `acknowledged` false; if the read fails, this throws.
    private func acknowledgeThenRead(
        count: Int, completions: [SubscriptionState.Completion]
    ) async throws -> (entries: [(entry: StreamEntry, duplicate: Bool)], acknowledged: Bool) {
        var commands: [RedisCommand] = []
        commands.reserveCapacity(completions.isEmpty ? 1 : 8)
        if !completions.isEmpty { appendAcknowledgements(completions, to: &commands) }
        var read = RedisCommand(
            name: "XREADGROUP", reservingBytes: 96 + group.rawValue.utf8.count + consumer.utf8.count + keys.stream.utf8.count,
            arguments: 8
        )
        read.append("GROUP")
        read.append(group.rawValue)
        read.append(consumer)
        read.append("COUNT")
        read.append(count)
        read.append("STREAMS")
        read.append(keys.stream)
        read.append(">")
        commands.append(read)
        let replies: [RESPValue]
        if options.dedup {
            let done = self.done
            replies = try await client.pipeline(commands) { replies in
                Self.verdictsCommand(for: replies[replies.count - 1], done: done)
            }
        } else {
            replies = try await client.pipeline(commands)
        }
        let readAt = commands.count - 1
        if case .error(let text) = replies[readAt] { throw RedisError.reply(text, address: client.redactedAddress) }
        let failure = Self.transactionFailure(replies[..<readAt])
        if let failure {
            logger.info("acknowledging finished jobs failed; they go with the next call", metadata: ["error": "\(failure)"])
        }
        let entries = await withVerdicts(read: replies[readAt], verdicts: readAt + 1 < replies.count ? replies[readAt + 1] : nil)
        return (entries, failure == nil)
    }

    /// The entries of an `XREADGROUP` reply (`[[stream, [[id, fields], ...]], ...]`, or nil)
    /// with their dedup verdicts: `verdicts` holds one score or nil per item, in the reply's
    /// order (``verdictsCommand(for:done:)``). Without verdicts (dedup off gives none; an error
    /// reply or a count that does not match) they come from `ZMSCORE` afterwards.
    func withVerdicts(read reply: RESPValue, verdicts: RESPValue?) async -> [(entry: StreamEntry, duplicate: Bool)] {
        var scores: [RESPValue]? = nil
        if case .array(let values)? = verdicts { scores = values }
        var entries: [(entry: StreamEntry, duplicate: Bool)] = []
        var position = 0
        for (key, items) in StreamEntry.readStreams(reply) {
            let source: StreamEntry.Source = key.string == retryStream ? .retry : .main
            entries.reserveCapacity(entries.count + items.count)
            for item in items {
                defer { position += 1 }
                guard let entry = StreamEntry(readItem: item, source: source) else { continue }
                entries.append((entry, scores.map { position < $0.count && !$0[position].isNull } ?? false))
            }
        }
        guard options.dedup, !entries.isEmpty, scores?.count != position else { return entries }
        let unchecked = entries.map(\.entry)
        let duplicates = await completedJobs(unchecked)
        return unchecked.map { ($0, duplicates.contains($0.key)) }
    }

    /// `ZMSCORE` on the done set with the job id of each item of an `XREADGROUP` reply, in the
    /// reply's order (`""`, never a member, for an item without one); `nil` when the read
    /// delivered nothing. Runs on the connection's thread (the worker's own, with `dedicatedThread`).
    static func verdictsCommand(for reply: RESPValue, done: String) -> RedisCommand? {
        let streams = StreamEntry.readStreams(reply)
        let count = streams.reduce(0) { $0 + $1.items.count }
        if count == 0 { return nil }
        var command = RedisCommand(name: "ZMSCORE", reservingBytes: 48 * count + done.utf8.count + 16, arguments: count + 1)
        command.append(done)
        for (_, items) in streams {
            for item in items { appendDoneSetMember(jobID(ofReadItem: item) ?? [], to: &command) }
        }
        return command
    }

    /// Appends a job id as the done set spells it: the ack records the id's canonical,
    /// lowercase text, while an entry's `id` may be written in either case
    /// (docs/wire-format.md), so the lookup lowercases it too. Ids are UUIDs (hex digits and
    /// `-`), so lowercasing maps no two valid ids to one.
    static func appendDoneSetMember(_ id: [UInt8], to command: inout RedisCommand) {
        guard id.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            command.append(id)
            return
        }
        command.append(id.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 })
    }

    /// The `id` field's value of a read item `[id, [name, value, ...]]`.
    private static func jobID(ofReadItem item: RESPValue) -> [UInt8]? {
        guard case .array(let parts) = item, parts.count == 2, case .array(let fields) = parts[1] else { return nil }
        var index = 0
        while index + 1 < fields.count {
            if case .bulkString(let name) = fields[index], name.elementsEqual("id".utf8),
               case .bulkString(let value) = fields[index + 1] {
                return value
            }
            index += 2
        }
        return nil
    }

    /// The first error among the replies of an acknowledging transaction (`MULTI`, queued
    /// commands, `EXEC`): a refused command, or one that failed inside `EXEC`; `nil` if none.
    static func transactionFailure(_ replies: ArraySlice<RESPValue>) -> String? {
        for reply in replies {
            switch reply {
            case .error(let text): return text
            case .array(let executed):
                for inner in executed { if case .error(let text) = inner { return text } }
            default: continue
            }
        }
        return nil
    }

    /// The fetch script's reply as entries with their dedup verdicts: due retries first, as
    /// they were read.
    static func parseFetchReply(_ reply: RESPValue) -> [(entry: StreamEntry, duplicate: Bool)] {
        guard let parts = reply.array, parts.count == 4 else { return [] }
        var entries: [(entry: StreamEntry, duplicate: Bool)] = []
        entries.reserveCapacity((parts[0].array?.count ?? 0) + (parts[2].array?.count ?? 0))
        for (source, at) in [(StreamEntry.Source.retry, 2), (.main, 0)] {
            guard let read = parts[at].array, !read.isEmpty else { continue }
            let flags = parts[at + 1].array ?? []
            for (index, item) in read.enumerated() {
                guard let entry = StreamEntry(readItem: item, source: source) else { continue }
                entries.append((entry, index < flags.count && flags[index].int == 1))
            }
        }
        return entries
    }

    /// Claims jobs of workers whose heartbeat lapsed (seen gone for `lapses`' grace; none and
    /// no sighting recorded unless `seeing`), and (backstop) jobs whose lease was not extended
    /// within the visibility timeout.
    private func reclaim(limit: Int, lapses: inout LapseWatch, seeing: Bool) async throws -> [StreamEntry] {
        var claimed: [StreamEntry] = []
        for (stream, source) in [(keys.stream, StreamEntry.Source.main), (retryStream, .retry)] {
            let reply = try await client.send(RedisCommand("XINFO", "CONSUMERS", stream, group.rawValue))
            // Other consumers with jobs pending, or silent for longer than a heartbeat lives.
            var candidates: [String] = []
            for consumerInfo in reply.array ?? [] {
                let info = Dictionary(pairs: consumerInfo)
                guard let name = info["name"]?.string, name != consumer else { continue }
                if (info["pending"]?.int ?? 0) > 0 || (info["idle"]?.int ?? 0) > Int(configuration.heartbeatTTL.milliseconds) {
                    candidates.append(name)
                }
            }
            let alive = candidates.isEmpty ? [] : try await client.pipeline(candidates.map {
                RedisCommand("EXISTS", keys.heartbeat(group, consumer: $0))
            })
            let gone = candidates.indices.filter { alive[$0].int == 0 }.map { candidates[$0] }
            // (every round that completes, an empty one too: a sighting must not outlive a
            // round that did not see it)
            let ready = seeing ? lapses.round(in: stream, gone: gone, now: .now) : []
            // The script re-checks the heartbeat, claims, and deletes the consumer only once
            // nothing is pending for it, all atomically.
            for name in gone where ready.contains(name) && claimed.count < limit {
                let reply = try await client.send(Self.reclaimCommand(
                    keys: [stream, keys.heartbeat(group, consumer: name)],
                    arguments: [group.rawValue, consumer, "0", String(limit - claimed.count), name, claimed.isEmpty ? "1" : "0"]
                ))
                let entries = StreamEntry.parseReclaimed(reply, source: source)
                metrics.reclaimed.increment(by: entries.count)
                if !entries.isEmpty {
                    logger.info("reclaimed jobs of a worker whose heartbeat lapsed",
                                metadata: ["spool.dead_worker": "\(name)", "spool.count": "\(entries.count)"])
                }
                claimed += entries
                if Self.holdsSuspect(claimed) {
                    // (a suspect runs alone: the retry stream's round is skipped, and its sightings go)
                    if source == .main { lapses.forget(in: retryStream) }
                    return claimed
                }
            }
            if claimed.count < limit {
                let reply = try await client.send(Self.reclaimCommand(
                    keys: [stream, stream],
                    arguments: [group.rawValue, consumer, String(configuration.visibilityTimeout.milliseconds),
                                String(limit - claimed.count), "", claimed.isEmpty ? "1" : "0"]
                ))
                let entries = StreamEntry.parseReclaimed(reply, source: source)
                metrics.reclaimed.increment(by: entries.count)
                if !entries.isEmpty {
                    logger.info("reclaimed jobs past the visibility timeout", metadata: ["spool.count": "\(entries.count)"])
                }
                claimed += entries
                if Self.holdsSuspect(claimed) {
                    // (a suspect runs alone: the retry stream's round is skipped, and its sightings go)
                    if source == .main { lapses.forget(in: retryStream) }
                    return claimed
                }
            }
        }
        return claimed
    }

    /// A call of the reclaim script, which must not be sent again after a lost reply: run
    /// twice, it claims the entries in the first run and returns none in the second, and
    /// only the thrown error makes the fetch loop look for them (`recoverUnseenEntries`).
    private static func reclaimCommand(keys: [String], arguments: [String]) -> RedisCommand {
        var command = RedisCommand.evalSHA(SpoolScripts.reclaim, keys: keys, arguments: arguments)
        command.allowsResendAfterLostReply = false
        return command
    }

    /// Whether `entries` is a suspect claimed alone: delivered twice before and never
    /// finished (see ``SpoolScripts/reclaim``).
    static func holdsSuspect(_ entries: [StreamEntry]) -> Bool {
        entries.contains { $0.deliveries >= suspectDeliveries }
    }

    /// The delivery count from which a reclaimed entry runs alone.
    static var suspectDeliveries: Int { 3 }

    /// The entry keys (``StreamEntry/key``) of `entries` whose job this group already completed.
    private func completedJobs(_ entries: [StreamEntry]) async -> Set<StreamEntry.Key> {
        guard options.dedup else { return [] }
        var command = RedisCommand(name: "ZMSCORE", reservingBytes: 40 * entries.count + done.utf8.count, arguments: entries.count + 1)
        command.append(done)
        var asked: [StreamEntry.Key] = []
        for entry in entries {
            guard let fields = entry.fields, let jobID = Self.field("id", in: fields) else { continue }
            command.append(jobID.lowercased())  // as the done set spells it (appendDoneSetMember)
            asked.append(entry.key)
        }
        guard !asked.isEmpty, let scores = try? await client.send(command).array else { return [] }
        var duplicates = Set<StreamEntry.Key>()
        for (index, score) in scores.enumerated() where !score.isNull && index < asked.count {
            duplicates.insert(asked[index])
        }
        return duplicates
    }

    private func handleFetchError(_ error: any Error, failures: Int) async {
        if let error = error as? RedisError, error.message.hasPrefix("NOGROUP") {
            await recreateMissingGroup()
            return
        }
        logger.info("fetching jobs failed; retrying", metadata: ["error": "\(error)", "spool.failures": "\(failures)"])
        let delay = min(Duration.milliseconds(50) * (1 << min(failures, 6)), .seconds(2))
        try? await Task.sleep(for: delay)
    }

    /// The value of field `name` in a flat field list, as text.
    static func field(_ name: String, in fields: [[UInt8]]) -> String? {
        var index = 0
        while index + 1 < fields.count {
            if fields[index].elementsEqual(name.utf8) { return String(decoding: fields[index + 1], as: UTF8.self) }
            index += 2
        }
        return nil
    }
}

extension Dictionary where Key == String, Value == RESPValue {
    /// A map from a flat `[name, value, name, value...]` reply (XINFO, CONFIG GET).
    init(pairs reply: RESPValue) {
        self.init()
        guard let items = reply.array else { return }
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].string { self[name] = items[index + 1] }
            index += 2
        }
    }
}
