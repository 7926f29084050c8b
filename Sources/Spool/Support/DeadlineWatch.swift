import Synchronization

/// Handler timeouts without a timer per job: each running job waits on a continuation that
/// `fire(now:)` resumes once its deadline has passed; the keeper calls it at least every
/// promote interval (250 ms by default) and every 50 ms while deadlines are registered, so a
/// timeout fires within about 250 ms of its deadline — plenty for handler timeouts of seconds.
final class DeadlineWatch: Sendable {
    private struct Waiter {
        let deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Bool, Never>?
        var cancelled: Bool
    }

    private let waiters = Mutex<[String: Waiter]>([:])

    /// Waits until `deadline` (returns `true`) or until the calling task is cancelled (`false`).
    func wait(_ id: String, until deadline: ContinuousClock.Instant) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow: Bool? = waiters.withLock { waiters in
                    if waiters[id]?.cancelled == true {
                        waiters[id] = nil
                        return false
                    }
                    waiters[id] = Waiter(deadline: deadline, continuation: continuation, cancelled: false)
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Bool, Never>? = waiters.withLock { waiters in
                guard let waiter = waiters[id] else {
                    // cancelled before it registered
                    waiters[id] = Waiter(deadline: .now, continuation: nil, cancelled: true)
                    return nil
                }
                waiters[id] = nil
                return waiter.continuation
            }
            continuation?.resume(returning: false)
        }
    }

    /// Resumes every waiter whose deadline has passed.
    func fire(now: ContinuousClock.Instant) {
        let due: [CheckedContinuation<Bool, Never>] = waiters.withLock { waiters in
            var due: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in waiters where waiter.deadline <= now && !waiter.cancelled {
                if let continuation = waiter.continuation { due.append(continuation) }
                waiters[id] = nil
            }
            return due
        }
        for continuation in due { continuation.resume(returning: true) }
    }

    var isEmpty: Bool { waiters.withLock { $0.isEmpty } }
}
