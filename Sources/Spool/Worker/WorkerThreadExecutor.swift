import SpoolRedis

/// A thread of the worker's own that runs its tasks, in the order they become ready
/// (``SpoolWorker/Configuration/dedicatedThread``).
///
/// The fetch loops, the upkeep and the handlers then take turns on one thread. A reply that
/// resumes the fetch loop, and a job the fetch loop hands to its handler, wake this thread
/// at most, instead of one of the shared pool's threads each time: on two cores that cut the
/// worker's CPU per no-op job from 13.4 to 11.4 µs (docs/performance.md, "Stop 17").
///
/// `@unchecked Sendable`: `queue`, `waiting` and `state` are read and written only with `lock`
/// held; `thread` only by `init` and by ``shutdown()``, which the worker calls once, after
/// every task that prefers this executor has ended.
final class WorkerThreadExecutor: TaskExecutor, @unchecked Sendable {
    private enum State {
        case running
        /// ``shutdown()`` was called: the thread runs what is queued, then ends.
        case stopping
        /// The thread ended: work that still arrives goes to the shared pool.
        case ended
    }

    private let lock = ConditionLock()
    private var queue: [UnownedJob] = []
    private var waiting = false
    private var state = State.running
    private var thread: JoinableThread?

    /// - Throws: ``ThreadStartFailure`` when no thread can be started.
    init() throws(ThreadStartFailure) {
        thread = try JoinableThread { [self] in loop() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        guard state != .ended else {
            lock.unlock()
            // not expected (the worker shuts this down once its tasks have ended); never dropped
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        queue.append(job)
        let wake = waiting
        lock.unlock()
        if wake { lock.signal() }
    }

    /// Lets the thread run what is queued, then ends it and waits for it.
    func shutdown() {
        lock.withLock { if state == .running { state = .stopping } }
        lock.signal()
        thread.take()?.join()
    }

    private func loop() {
        var batch: [UnownedJob] = []
        while true {
            lock.lock()
            while queue.isEmpty && state == .running {
                waiting = true
                lock.wait()
                waiting = false
            }
            if queue.isEmpty {
                state = .ended
                lock.unlock()
                return
            }
            swap(&queue, &batch)
            lock.unlock()
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
