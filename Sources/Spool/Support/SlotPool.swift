import Synchronization

/// Free handler slots of one subscription; the fetch loop takes what is free (never more),
/// handlers give slots back when their job is settled.
final class SlotPool: Sendable {
    private struct State {
        var free: Int
        var waiter: (max: Int, continuation: CheckedContinuation<Int, Never>)?
        var closed = false
    }
    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(free: count))
    }

    /// Waits until at least one slot is free and takes up to `max`; returns 0 once closed.
    func acquire(max: Int) async -> Int {
        await withCheckedContinuation { continuation in
            let taken: Int? = state.withLock { state in
                if state.closed { return 0 }
                if state.free > 0 {
                    let count = min(state.free, max)
                    state.free -= count
                    return count
                }
                state.waiter = (max, continuation)
                return nil
            }
            if let taken { continuation.resume(returning: taken) }
        }
    }

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
