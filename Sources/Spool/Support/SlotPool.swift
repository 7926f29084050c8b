import Synchronization

/// Free handler slots of one subscription; the fetch loop takes what is free (never more),
/// handlers give slots back when their job is settled.
final class SlotPool: Sendable {
    private struct State {
        var free: Int
        var waiter: (max: Int, continuation: CheckedContinuation<Int, Never>)?
        var closed = false
        /// ``wake()`` was called with no wakeable wait under way: the next one returns at once.
        var woken = false
        /// The waiter came from ``acquire(max:wakeable:)`` with `wakeable`.
        var waiterWakeable = false
    }
    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(free: count))
    }

    /// Waits until at least one slot is free and takes up to `max`; returns 0 once closed, or,
    /// when `wakeable`, once ``wake()`` is called (or was, since the last wakeable wait).
    func acquire(max: Int, wakeable: Bool = false) async -> Int {
        await withCheckedContinuation { continuation in
            let taken: Int? = state.withLock { state in
                if state.closed { return 0 }
                if state.free > 0 {
                    let count = min(state.free, max)
                    state.free -= count
                    // a wake meant for this wait is answered by the loop's turn these slots start
                    if wakeable { state.woken = false }
                    return count
                }
                if wakeable && state.woken {
                    state.woken = false
                    return 0
                }
                state.waiter = (max, continuation)
                state.waiterWakeable = wakeable
                return nil
            }
            if let taken { continuation.resume(returning: taken) }
        }
    }

    /// Ends a wakeable wait (``acquire(max:wakeable:)``) with 0, or makes the next one return
    /// 0 at once if none is under way: the fetch loop is wanted for something other than a slot.
    func wake() {
        let waiter: CheckedContinuation<Int, Never>? = state.withLock { state in
            guard let waiter = state.waiter, state.waiterWakeable else {
                state.woken = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: 0)
    }

    /// Whether a wait is under way (for tests).
    var hasWaiter: Bool { state.withLock { $0.waiter != nil } }

    /// Takes up to `max` free slots without waiting.
    func tryAcquire(max: Int) -> Int {
        state.withLock { state in
            let count = min(state.free, max)
            state.free -= count
            return count
        }
    }

    /// Gives `count` slots back, waking the fetch loop if it waits.
    func release(_ count: Int) {
        guard count > 0 else { return }
        let wake: (CheckedContinuation<Int, Never>, Int)? = state.withLock { state in
            state.free += count
            guard let waiter = state.waiter, state.free > 0 else { return nil }
            state.waiter = nil
            let taken = min(state.free, waiter.max)
            state.free -= taken
            return (waiter.continuation, taken)
        }
        if let (continuation, taken) = wake { continuation.resume(returning: taken) }
    }

    /// Wakes a waiting fetch loop with 0; later acquires return 0 at once.
    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: 0)
    }
}
