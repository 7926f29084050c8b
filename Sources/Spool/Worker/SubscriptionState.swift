import Synchronization

/// Mutable state shared by one subscription's tasks: the fetch loop, the handlers, the
/// acknowledgement flusher and the keeper.
final class SubscriptionState: Sendable {
    /// A job whose handler runs now, for lease extension.
    struct Running: Sendable {
        /// After this instant the lease is no longer extended (the handler overran its timeout).
        let leaseUntil: ContinuousClock.Instant
    }

    /// A finished job waiting to be acknowledged.
    struct Completion: Sendable {
        let entryID: StreamID
        let source: StreamEntry.Source
        /// `nil` when the entry did not decode (nothing to record in the dedup set); rendered
        /// only into the acknowledging command, so no `String` is made per job.
        let jobID: JobID?
    }

    private struct State {
        var stopping = false
        var finished = false
        var running: [StreamEntry.Key: Running] = [:]
        var completions: [Completion] = []
        /// How many times the fetch loop took completions to send with a read.
        var readsCarryingAcks = 0
    }

    private let state = Mutex(State())
    /// Free handler slots.
    let slots: SlotPool
    /// Rung when completions are waiting, and when the subscription finishes.
    let acksReady = AsyncSignal()
    /// Rung when the last running handler ends during shutdown.
    let drained = AsyncSignal()
    /// Rung on shutdown, to wake the keeper early.
    let stopRequested = AsyncSignal()
    /// Rung when the last running handler ends.
    let idle = AsyncSignal()
    /// Handler deadlines, fired by the keeper.
    let deadlines = DeadlineWatch()

    init(concurrency: Int) {
        slots = SlotPool(concurrency)
    }

    var isStopping: Bool { state.withLock { $0.stopping } }
    var isFinished: Bool { state.withLock { $0.finished } }

    /// Stops fetching: wakes the fetch loop and the keeper.
    func beginStop() {
        let drainedNow = state.withLock { state in
            state.stopping = true
            return state.running.isEmpty
        }
        slots.close()
        stopRequested.signal()
        idle.signal()
        if drainedNow { drained.signal() }
    }

    /// Marks the fetch loop and every handler done; the flusher and keeper then finish.
    func finish() {
        state.withLock { $0.finished = true }
        acksReady.signal()
        stopRequested.signal()
    }

    func started(_ entry: StreamEntry.Key, _ running: Running) {
        state.withLock { $0.running[entry] = running }
    }

    func ended(_ entry: StreamEntry.Key) {
        let (empty, drainedNow) = state.withLock { state in
            state.running[entry] = nil
            return (state.running.isEmpty, state.stopping && state.running.isEmpty)
        }
        if empty { idle.signal() }
        if drainedNow { drained.signal() }
    }

    var runningCount: Int { state.withLock { $0.running.count } }

    /// Entries whose lease should be extended now, by source.
    func leasesToExtend(now: ContinuousClock.Instant) -> (main: [StreamID], retry: [StreamID]) {
        state.withLock { state in
            var main: [StreamID] = []
            var retry: [StreamID] = []
            for (entry, running) in state.running where running.leaseUntil > now {
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

    /// Takes every queued completion; `forRead` when the fetch loop sends them with a read
    /// (counted in ``readsCarryingAcks``).
    func takeCompletions(forRead: Bool = false) -> [Completion] {
        state.withLock { state in
            if forRead { state.readsCarryingAcks &+= 1 }
            defer { state.completions.removeAll(keepingCapacity: true) }
            return state.completions
        }
    }

    /// How many reads of the fetch loop took completions so far: the flusher leaves
    /// completions to the fetch loop while this grows.
    var readsCarryingAcks: Int { state.withLock { $0.readsCarryingAcks } }

    /// Puts completions back after a failed flush, ahead of newer ones, and wakes the flusher.
    func requeue(_ completions: [Completion]) {
        state.withLock { $0.completions.insert(contentsOf: completions, at: 0) }
        acksReady.signal()
    }
}
