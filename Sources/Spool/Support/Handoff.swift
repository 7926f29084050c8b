import Synchronization

/// Hands items to tasks waiting for one: the fetch loop gives each job to a job task that
/// finished its last one, rather than start a task per job.
///
/// A task per job cost about ten allocations each: the task, its task-local link, two
/// closure contexts and the slabs its async frames need beyond the task's first one. A task
/// that waits here for its next job keeps its slabs (docs/performance.md, "Stop 26"): as many
/// as the largest job it ran needed, until it ends.
///
/// Waiting tasks are resumed last in, first out (the most recently used one is the likeliest
/// to be warm). At most `limit` wait: a task that would be one more gets `nil` and ends.
final class Handoff<Item: Sendable>: Sendable {
    private struct Waiting {
        var closed = false
        /// Each waiting task's continuation.
        var tasks: [UnsafeContinuation<Item?, Never>] = []
    }

    private let waiting = Mutex(Waiting())
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// Gives `item` to a waiting task; `false` when none waits (the caller starts one).
    func give(_ item: Item) -> Bool {
        guard let task = waiting.withLock({ $0.tasks.popLast() }) else { return false }
        task.resume(returning: item)
        return true
    }

    /// The next item given to this task, or `nil` once ``close()`` was called, when `limit`
    /// tasks wait already, or when this task was cancelled before it waits. A task cancelled
    /// while it waits goes on waiting, for an item or for ``close()``.
    ///
    /// Why no cancellation handler: the worker closes the handoff whenever its fetch loop ends,
    /// a cancelled worker's too (the cancellation stops the loop), and it cancels its job
    /// tasks past the grace period only after that. `withTaskCancellationHandler` cost each
    /// job three executor switches, and on a worker's own thread each of those takes the
    /// task's status lock: about 4% of the worker's rate (docs/performance.md, "Stop 34").
    nonisolated(nonsending) func next() async -> Item? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Item?, Never>) in
            let waits = waiting.withLock { waiting in
                guard !waiting.closed, waiting.tasks.count < limit, !Task.isCancelled else { return false }
                waiting.tasks.append(continuation)
                return true
            }
            if !waits { continuation.resume(returning: nil) }
        }
    }

    /// How many tasks wait now.
    var waitingCount: Int { waiting.withLock { $0.tasks.count } }

    /// Ends every wait, now and later, with `nil`.
    func close() {
        let tasks = waiting.withLock { waiting in
            waiting.closed = true
            defer { waiting.tasks.removeAll() }
            return waiting.tasks
        }
        for task in tasks { task.resume(returning: nil) }
    }
}
