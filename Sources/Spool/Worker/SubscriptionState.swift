import CoreMetrics
import DequeModule
import Synchronization

/// Mutable state shared by one subscription's tasks: the fetch loop, the handlers, the
/// acknowledgement flusher and the keeper.
final class SubscriptionState: Sendable {
    /// A job this worker holds, for lease extension: its handler runs, or waits for a slot.
    struct Running: Sendable {
        /// After this instant the lease is no longer extended (the handler overran its timeout).
        let leaseUntil: ContinuousClock.Instant
        /// Delivered beyond the free slots (or read ahead, with a prefetch): its handler starts
        /// once a slot is free, from ``SubscriptionRunner/fetchAndRun()`` or, with a prefetch,
        /// from a job task that ended its job, so it is not counted as running a handler.
        var waitsForSlot = false
    }

    /// A finished job waiting to be acknowledged.
    struct Completion: Sendable {
        let entryID: StreamID
        let source: StreamEntry.Source
        /// `nil` when the entry did not decode (nothing to record in the dedup set); rendered
        /// only into the acknowledging command, so no `String` is made per job.
        let jobID: JobID?
    }

    /// Completions taken for one acknowledging call. The state still counts them among the
    /// entries it knows (``knownEntries()``) until the call ends (``settle(_:acknowledged:)``):
    /// until then Redis may not have acknowledged them.
    struct Acknowledgements: Sendable {
        /// Identifies the batch in the state; 0 for an empty batch, which is not kept.
        fileprivate let token: Int
        let completions: [Completion]

        var isEmpty: Bool { completions.isEmpty }
    }

    private struct State {
        var stopping = false
        var finished = false
        var running: [StreamEntry.Key: Running] = [:]
        /// How many of `running` wait for a slot.
        var waiting = 0
        var completions: [Completion] = []
        /// Batches taken and not settled yet, by token.
        var sending: [Int: [Completion]] = [:]
        var lastToken = 0
        /// How many times the fetch loop took completions to send with a read.
        var readsCarryingAcks = 0
    }

    private let state = Mutex(State())
    /// When a hand-back was last logged, and how many were not since.
    private let handBackReports = Mutex<(last: ContinuousClock.Instant?, unlogged: Int)>((nil, 0))
    /// When this worker's heartbeat was last written, in nanoseconds after ``createdAt``; -1
    /// before the first write (``LapseWatch``).
    private let lastBeat = Atomic<Int64>(-1)
    private let createdAt = ContinuousClock.now
    /// Free handler slots.
    let slots: SlotPool
    /// Rung when completions are waiting, and when the subscription finishes.
    let acksReady = AsyncSignal()
    /// Rung when the last running handler ends during shutdown.
    let drained = AsyncSignal()
    /// Rung on shutdown, to wake the keeper's heartbeat loop early.
    let stopRequested = AsyncSignal()
    /// Rung on shutdown, to wake the keeper's other loop (promotion, trimming) early.
    let upkeepStopRequested = AsyncSignal()
    /// Rung when the last running handler ends (jobs waiting for a slot may remain).
    let idle = AsyncSignal()
    /// Handler deadlines, fired by the keeper.
    let deadlines = DeadlineWatch()
    /// Job tasks waiting for their next job (``SubscriptionRunner/runJobs(first:)``).
    let jobs: Handoff<(entry: StreamEntry, duplicate: Bool)>

    /// With a prefetch (``SpoolWorker/SubscriptionOptions/prefetch``): the handlers running
    /// and the jobs read ahead that wait for one to end, oldest first.
    ///
    /// The slot pool then holds `concurrency + prefetch` slots, one per job the worker holds,
    /// so the fetch loop reads as a worker of that concurrency would, in as large batches; a
    /// job it takes starts only while fewer than `concurrency` handlers run
    /// (``admit(_:takeWaiting:leaseUntil:)``), else it waits here (marked running, waiting for a slot,
    /// before it is put here). A job task that ended its job runs the next that waits
    /// (``handlerEnded(takingNext:)``), without the fetch loop. A job task that was cancelled
    /// does not: it wakes the fetch loop (``SlotPool/wake()``), whose `admit` starts it. Once
    /// the worker stops, nothing that waits starts: it is handed back.
    private let admission = Mutex(Admission())
    private let handlerLimit: Int
    private let prefetches: Bool

    private struct Admission {
        var running = 0
        var waiting = Deque<(entry: StreamEntry, duplicate: Bool)>()
        /// The worker stops (``beginStop()``).
        var stopped = false
    }

    /// Where ``handlerCount`` goes: recorded under the lock with each change, so that of two
    /// handlers ending at once the later write is the later count (read under the lock and
    /// recorded after it, the writes could land in the other order and leave the gauge at 1
    /// on an idle worker).
    private let handlerGauge: Gauge?

    init(concurrency: Int, prefetch: Int = 0, handlerGauge: Gauge? = nil) {
        slots = SlotPool(concurrency + prefetch)
        handlerLimit = concurrency
        prefetches = prefetch > 0
        // an idle job task keeps the slabs of the largest job it ran (a few KB for Spool's own
        // frames): after a burst at a high concurrency, at most 64 stay waiting, the others end
        // as they did before tasks were reused
        jobs = Handoff(limit: min(concurrency, Self.idleJobTasks))
        self.handlerGauge = handlerGauge
    }

    /// The most job tasks that wait for a job (``jobs``).
    static var idleJobTasks: Int { 64 }

    var isStopping: Bool { state.withLock { $0.stopping } }
    var isFinished: Bool { state.withLock { $0.finished } }

    /// Records a heartbeat write that Redis took, sent at `sent`.
    func noteBeat(sentAt sent: ContinuousClock.Instant) {
        let (seconds, attoseconds) = (sent - createdAt).components
        lastBeat.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
    }

    /// How long ago this worker's heartbeat was last written (sent); `nil` before the first.
    func sinceLastBeat(now: ContinuousClock.Instant) -> Duration? {
        let nanoseconds = lastBeat.load(ordering: .relaxed)
        return nanoseconds < 0 ? nil : now - (createdAt + .nanoseconds(nanoseconds))
    }

    /// Stops fetching: wakes the fetch loop and the keeper.
    func beginStop() {
        let drainedNow = state.withLock { state in
            state.stopping = true
            return state.running.isEmpty
        }
        admission.withLock { $0.stopped = true }
        slots.close()
        stopRequested.signal()
        upkeepStopRequested.signal()
        idle.signal()
        if drainedNow { drained.signal() }
    }

    /// Marks the fetch loop and every handler done; the flusher and keeper then finish.
    func finish() {
        state.withLock { $0.finished = true }
        acksReady.signal()
        stopRequested.signal()
        upkeepStopRequested.signal()
    }

    func started(_ entry: StreamEntry.Key, _ running: Running) {
        state.withLock { state in
            Self.record(entry, running, in: &state)
            handlerGauge?.record(state.running.count - state.waiting)
        }
    }

    private static func record(_ entry: StreamEntry.Key, _ running: Running, in state: inout State) {
        if state.running.updateValue(running, forKey: entry)?.waitsForSlot == true { state.waiting -= 1 }
        if running.waitsForSlot { state.waiting += 1 }
    }

    func ended(_ entry: StreamEntry.Key) {
        let (noHandler, drainedNow) = state.withLock { state in
            if state.running.removeValue(forKey: entry)?.waitsForSlot == true { state.waiting -= 1 }
            handlerGauge?.record(state.running.count - state.waiting)
            return (state.running.count == state.waiting, state.stopping && state.running.isEmpty)
        }
        if noHandler { idle.signal() }
        if drainedNow { drained.signal() }
    }

    /// Whether a hand-back (``HandBackError``) is logged now: the first, then at most one every
    /// 30 s. Returns `nil` when it is not, else how many went unlogged since the last one.
    func handBackToReport(now: ContinuousClock.Instant = .now) -> Int? {
        handBackReports.withLock { reports in
            if let last = reports.last, now - last < .seconds(30) {
                reports.unlogged += 1
                return nil
            }
            defer { reports = (now, 0) }
            return reports.unlogged
        }
    }

    /// What may start of the jobs waiting and of `items` (each holding a slot): those waiting
    /// first (only with `takeWaiting`, and not once the worker stops), then `items` in order,
    /// while fewer than `concurrency` handlers run. `waiting` are the `items` that wait now:
    /// marked running, waiting for a slot (lease until `leaseUntil`), before a job task can
    /// take one. Without a prefetch, all of `items` start.
    func admit(
        _ items: [(entry: StreamEntry, duplicate: Bool)], takeWaiting: Bool, leaseUntil: ContinuousClock.Instant
    ) -> (start: [(entry: StreamEntry, duplicate: Bool)], waiting: [(entry: StreamEntry, duplicate: Bool)]) {
        guard prefetches else { return (items, []) }
        // (the admission lock, then the state's: no path takes them the other way round)
        return admission.withLock { admission in
            var room = max(0, handlerLimit - admission.running)
            var start: [(entry: StreamEntry, duplicate: Bool)] = []
            start.reserveCapacity(min(room, admission.waiting.count + items.count))
            while takeWaiting && !admission.stopped && room > 0, let next = admission.waiting.popFirst() {
                start.append(next)
                room -= 1
            }
            let now = min(room, items.count)
            start += items.prefix(now)
            let waiting = Array(items.dropFirst(now))
            if !waiting.isEmpty {
                state.withLock { state in
                    for (entry, _) in waiting { Self.record(entry.key, Running(leaseUntil: leaseUntil, waitsForSlot: true), in: &state) }
                    handlerGauge?.record(state.running.count - state.waiting)
                }
            }
            admission.waiting.append(contentsOf: waiting)
            admission.running += start.count
            return (start, waiting)
        }
    }

    /// A handler admitted by ``admit(_:takeWaiting:leaseUntil:)`` ended: the job that waits longest, to
    /// run next in its place (when `takingNext`, and the worker does not stop), or `nil`.
    /// Without one, and with jobs waiting, the fetch loop is woken to start them; with no
    /// handler left, ``idle`` rings.
    func handlerEnded(takingNext: Bool) -> (entry: StreamEntry, duplicate: Bool)? {
        guard prefetches else { return nil }
        let (next, wakeLoop, noneRuns) = admission.withLock { admission -> ((entry: StreamEntry, duplicate: Bool)?, Bool, Bool) in
            if takingNext && !admission.stopped, let next = admission.waiting.popFirst() { return (next, false, false) }
            admission.running -= 1
            return (nil, !admission.stopped && !admission.waiting.isEmpty, admission.running == 0)
        }
        if wakeLoop { slots.wake() }
        if noneRuns { idle.signal() }
        return next
    }

    /// How many handlers ``admit(_:takeWaiting:leaseUntil:)`` admitted that have not ended: 0 without a
    /// prefetch. (A job task counts from its admission to its ``handlerEnded(takingNext:)``,
    /// across the moment between one job and the next it takes.)
    var admittedCount: Int {
        guard prefetches else { return 0 }
        return admission.withLock { $0.running }
    }

    /// How many jobs read ahead wait for a handler.
    var waitingJobCount: Int {
        guard prefetches else { return 0 }
        return admission.withLock { $0.waiting.count }
    }

    /// Every job read ahead still waiting (stopping: each is handed back).
    func takeWaitingJobs() -> [(entry: StreamEntry, duplicate: Bool)] {
        guard prefetches else { return [] }
        return admission.withLock { admission in
            defer { admission.waiting.removeAll() }
            return Array(admission.waiting)
        }
    }

    /// The jobs this worker holds: handlers running, and jobs waiting for a slot.
    var runningCount: Int { state.withLock { $0.running.count } }

    /// The handlers running now (``runningCount`` without the jobs waiting for a slot).
    var handlerCount: Int { state.withLock { $0.running.count - $0.waiting } }

    /// Entries whose lease should be extended now, by source.
    func leasesToExtend(now: ContinuousClock.Instant) -> (main: [StreamID], retry: [StreamID]) {
        state.withLock { state in
            var main: [StreamID] = []
            var retry: [StreamID] = []
            // a job waiting for a slot has not started: its lease runs from its start
            for (entry, running) in state.running where running.waitsForSlot || running.leaseUntil > now {
                if entry.source == .main { main.append(entry.id) } else { retry.append(entry.id) }
            }
            return (main, retry)
        }
    }

    /// Queues a completion for the flusher.
    func complete(_ completion: Completion) {
        state.withLock { $0.completions.append(completion) }
        acksReady.signal()
    }

    /// Takes every queued completion, as a batch to settle with ``settle(_:acknowledged:)``;
    /// `forRead` when the fetch loop sends them with a read (counted in ``readsCarryingAcks``).
    func takeCompletions(forRead: Bool = false) -> Acknowledgements {
        state.withLock { state in
            if forRead { state.readsCarryingAcks &+= 1 }
            guard !state.completions.isEmpty else { return Acknowledgements(token: 0, completions: []) }
            state.lastToken &+= 1
            let batch = Acknowledgements(token: state.lastToken, completions: state.completions)
            state.sending[batch.token] = batch.completions
            state.completions.removeAll(keepingCapacity: true)
            return batch
        }
    }

    /// Ends a batch's call: `acknowledged` when Redis acknowledged it; otherwise its
    /// completions go back ahead of newer ones and the flusher is woken. Settling a batch
    /// twice does nothing.
    func settle(_ batch: Acknowledgements, acknowledged: Bool) {
        guard batch.token != 0 else { return }
        let requeued = state.withLock { state in
            guard state.sending.removeValue(forKey: batch.token) != nil else { return false }
            if !acknowledged { state.completions.insert(contentsOf: batch.completions, at: 0) }
            return !acknowledged
        }
        if requeued { acksReady.signal() }
    }

    /// Drops a batch that could not be acknowledged when no more tries will be made (the
    /// subscription finished): its entries stay pending in Redis, and run again elsewhere.
    func abandon(_ batch: Acknowledgements) {
        _ = state.withLock { $0.sending.removeValue(forKey: batch.token) }
    }

    /// Every entry this worker holds: running, or finished and not known to be acknowledged
    /// (queued, or in a call not settled yet).
    func knownEntries() -> Set<StreamEntry.Key> {
        state.withLock { state in
            var known = Set(state.running.keys)
            for completion in state.completions { known.insert(StreamEntry.Key(source: completion.source, id: completion.entryID)) }
            for batch in state.sending.values {
                for completion in batch { known.insert(StreamEntry.Key(source: completion.source, id: completion.entryID)) }
            }
            return known
        }
    }

    /// How many reads of the fetch loop took completions so far: the flusher leaves
    /// completions to the fetch loop while this grows.
    var readsCarryingAcks: Int { state.withLock { $0.readsCarryingAcks } }
}
