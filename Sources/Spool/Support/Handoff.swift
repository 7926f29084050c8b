import Synchronization

/// Hands items to tasks waiting for one: the fetch loop gives each job to a job task that
/// finished its last one, rather than start a task per job.
///
/// A task per job cost about ten allocations each: the task, its task-local link, the
/// closure's context and the slabs its async frames need beyond the task's first one. A task
/// that waits here for its next job keeps its slabs (docs/performance.md, "Stop 26").
///
/// Waiting tasks are resumed last in, first out (the most recently used one is the likeliest
/// to be warm). At most `limit` wait: a task that would be one more gets `nil` and ends.
final class Handoff<Item: Sendable>: Sendable {
    private struct Waiting {
        var closed = false
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

    /// The next item given to this task, or `nil` once ``close()`` was called, the task was
    /// cancelled (which closes the handoff: only a worker that stops cancels its job tasks
    /// while they wait), or `limit` tasks wait already.
    func next() async -> Item? {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (task: UnsafeContinuation<Item?, Never>) in
                let waits = waiting.withLock { waiting in
                    guard !waiting.closed, waiting.tasks.count < limit else { return false }
                    waiting.tasks.append(task)
                    return true
                }
                if !waits { task.resume(returning: nil) }
            }
        } onCancel: {
            close()
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
