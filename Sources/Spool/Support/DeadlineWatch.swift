import Synchronization

/// Handler timeouts without a timer or a second task per job: a handler runs in a job task
/// (one job at a time), which registers itself with its deadline; `fire(now:)` cancels every registered
/// task whose deadline has passed. The keeper calls it at least every promote interval
/// (250 ms by default) and every 50 ms while tasks are registered, so a timeout fires within
/// about 250 ms of its deadline — plenty for handler timeouts of seconds.
final class DeadlineWatch: Sendable {
    /// The task a registration cancels.
    ///
    /// `@unchecked Sendable`, and sound: an `UnsafeCurrentTask` must not be used after its task
    /// ended. Here it is used only by `fire(now:)`, under the `registrations` lock, and only
    /// while its registration is present; the task removes its registration under the same
    /// lock before `run(_:until:_:)` returns. So `cancel()` is only ever called while the task
    /// is still inside `run`, that is, alive. `cancel()` itself is thread-safe (it is what
    /// `Task.cancel()` does).
    private struct TaskReference: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    private struct Registration: Sendable {
        let deadline: ContinuousClock.Instant
        let task: TaskReference
        var expired = false
    }

    private let registrations = Mutex<[StreamEntry.Key: Registration]>([:])

    /// Runs `body` in the calling task. If `deadline` passes first, the task is cancelled
    /// (`body` should then end soon; it is awaited) and `timedOut` is `true`; the task stays
    /// cancelled afterwards.
    nonisolated(nonsending) func run(
        _ key: StreamEntry.Key, until deadline: ContinuousClock.Instant, _ body: nonisolated(nonsending) () async throws -> Void
    ) async -> (error: (any Error)?, timedOut: Bool) {
        let registered: Bool = withUnsafeCurrentTask { task in
            guard let task else { return false }
            registrations.withLock { $0[key] = Registration(deadline: deadline, task: TaskReference(task: task)) }
            return true
        }
        var failure: (any Error)?
        do {
            try await body()
        } catch {
            failure = error
        }
        guard registered else { return (failure, false) }
        let expired = registrations.withLock { $0.removeValue(forKey: key)?.expired ?? false }
        return (failure, expired)
    }

    /// Cancels every registered task whose deadline has passed (once).
    ///
    /// Cancellation handlers of those tasks run here, under the lock; none of Spool's touch
    /// the watch.
    func fire(now: ContinuousClock.Instant) {
        registrations.withLock { registrations in
            for (key, registration) in registrations where registration.deadline <= now && !registration.expired {
                registrations[key]?.expired = true
                registration.task.task.cancel()
            }
        }
    }

    var isEmpty: Bool { registrations.withLock { $0.isEmpty } }
}
