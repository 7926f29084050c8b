import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// One thread that runs tasks, in the order they become ready, and drives the I/O of the
/// connections made on it (``RedisClient/init(following:loop:)``): SwiftNIO's
/// event-loop shape.
///
/// A task that sends a command queues it; the loop writes it once the tasks ready now have
/// run, and, when no task is ready, waits in `poll` for the replies (or for work from another
/// thread). A reply resumes its task on this same thread: no thread is woken to send a
/// command or to hand its reply back, as a connection's own thread would be.
///
/// `@unchecked Sendable`: `queue`, `added`, `waiting`, `connectionWork` and `state` are read
/// and written only with `lock` held; `connections` and `busyPoll` only by the loop's thread; `thread` only
/// by `init` and by ``shutdown()``, called once.
package final class ConnectionLoop: TaskExecutor, @unchecked Sendable {
    private enum State {
        case running
        /// ``shutdown()`` was called: the thread runs what is queued, then ends.
        case stopping
        /// The thread ended: work that still arrives goes to the shared pool.
        case ended
    }

    private let lock = ConditionLock()
    private var queue: [UnownedJob] = []
    /// Connections made on this loop, not yet taken up by its thread.
    private var added: [DrivenConnection] = []
    /// The thread waits in `poll`: wake it through `wakeDescriptor`.
    private var waiting = false
    /// A connection was given work (or shut down) since the thread last looked.
    private var connectionWork = false
    private var state = State.running
    private let wakeDescriptor: Int32
    private var connections: [DrivenConnection] = []
    private var thread: JoinableThread?
    /// Only the loop's thread uses it.
    private var busyPoll: BusyPoll

    /// - Parameter busyPoll: how long the thread polls for replies without sleeping before it
    ///   sleeps in `poll` (``BusyPoll``); zero never.
    /// - Throws: ``ThreadStartFailure`` when no thread (or no eventfd) can be had.
    package init(busyPoll: Duration = .zero) throws(ThreadStartFailure) {
        self.busyPoll = BusyPoll(limit: busyPoll)
        wakeDescriptor = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        // reported as a thread that could not start (its cause names the errno: EMFILE, ...)
        guard wakeDescriptor >= 0 else { throw ThreadStartFailure(code: errno) }
        // on a failure `deinit` closes the eventfd (every property is set by then)
        thread = try JoinableThread(name: "spool-loop") { [self] in loop() }
    }

    deinit {
        close(wakeDescriptor)
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        guard state != .ended else {
            lock.unlock()
            // not expected (its owner shuts this down once its tasks have ended); never dropped
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        queue.append(job)
        unlockWaking()
    }

    /// Takes up a connection made on this loop.
    func host(_ connection: DrivenConnection) {
        lock.lock()
        if state == .ended {
            lock.unlock()
            // nothing would drive it: its commands fail as shut down
            connection.close()
            return
        }
        added.append(connection)
        connectionWork = true
        unlockWaking()
    }

    /// A connection of this loop was given work, or shut down.
    func connectionHasWork() {
        lock.lock()
        connectionWork = true
        unlockWaking()
    }

    /// Lets the thread run what is queued, then ends it and waits for it. The connections
    /// still open then fail what they hold as shut down.
    package func shutdown() {
        lock.lock()
        if state == .running { state = .stopping }
        unlockWaking()
        thread.take()?.join()
    }

    /// Lets the lock go (call with it held, after a change the thread must see) and wakes the
    /// thread if it waits in `poll`.
    private func unlockWaking() {
        let wake = waiting
        waiting = false
        lock.unlock()
        if wake {
            var one: UInt64 = 1
            _ = write(wakeDescriptor, &one, 8)
        }
    }

    private func loop() {
        var batch: [UnownedJob] = []
        var descriptors: [pollfd] = []
        // tasks ran since the sockets were last looked at
        var ranTasks = false
        while true {
            lock.lock()
            if !added.isEmpty {
                connections += added
                added.removeAll()
            }
            let pump = connectionWork
            connectionWork = false
            if pump {
                lock.unlock()
                for connection in connections { connection.pump() }
                connections.removeAll { $0.isClosed }
                // on to the tasks, not round to another pump: callers on other threads that
                // keep sending cannot hold the tasks up
                lock.lock()
            }
            if !queue.isEmpty {
                swap(&queue, &batch)
                lock.unlock()
                // Replies that came while the last tasks ran, before more run: tasks that keep
                // making tasks do not hold them up. (Once no task is ready, `poll` looks.)
                if ranTasks {
                    for connection in connections {
                        connection.receive()
                        // a server that stopped answering times out even while tasks keep coming
                        if connection.deadline != nil { connection.checkDeadline(now: .now) }
                    }
                }
                for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
                batch.removeAll(keepingCapacity: true)
                ranTasks = true
                continue
            }
            ranTasks = false
            if state == .stopping {
                state = .ended
                connections += added
                added.removeAll()
                lock.unlock()
                for connection in connections { connection.close() }
                connections.removeAll()
                return
            }
            // work that came while the lock was let go for the pump: round again, not to sleep
            if connectionWork || !added.isEmpty {
                lock.unlock()
                continue
            }
            waiting = true
            lock.unlock()
            descriptors.removeAll(keepingCapacity: true)
            descriptors.append(pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0))
            var deadline: ContinuousClock.Instant?
            for connection in connections {
                guard let socket = connection.awaitedSocket else { continue }
                descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0))
                if let due = connection.deadline { deadline = min(deadline ?? due, due) }
            }
            var ready: Int32 = 0
            // replies awaited: poll without sleeping first, while polls catch them (`BusyPoll`),
            // never past the nearest deadline
            if descriptors.count > 1 && busyPoll.next() {
                let end = min(ContinuousClock.now + busyPoll.limit, deadline ?? .now + busyPoll.limit)
                repeat {
                    ready = poll(&descriptors, nfds_t(descriptors.count), 0)
                } while ready == 0 && ContinuousClock.now < end
                // a reply caught, or the time run out; work from another thread (the eventfd,
                // first) or an error says nothing of how fast replies come
                if ready == 0 {
                    busyPoll.record(caught: false)
                } else if ready > 0 && descriptors.dropFirst().contains(where: { $0.revents != 0 }) {
                    busyPoll.record(caught: true)
                }
            }
            // (taken after the spin, so that the spin does not push a deadline back)
            let timeout = deadline.map { Self.milliseconds(until: $0) } ?? -1
            if ready == 0 { ready = poll(&descriptors, nfds_t(descriptors.count), timeout) }
            lock.withLock { waiting = false }
            if ready > 0 && descriptors[0].revents != 0 {
                var count: UInt64 = 0
                _ = read(wakeDescriptor, &count, 8)
            }
            let now = ContinuousClock.now
            for connection in connections {
                connection.receive()
                connection.checkDeadline(now: now)
            }
        }
    }

    /// Whether the loop's thread polls for replies without sleeping, and for how long.
    ///
    /// Why: on loopback a reply comes within tens of microseconds, and a thread that sleeps in
    /// `poll` for it pays for the sleep and the wake-up twice: the kernel switches it out and
    /// back in, and the sender (Redis) wakes it through the scheduler, which on a virtual
    /// machine costs an interrupt to another core (docs/performance.md, "Stop 34").
    ///
    /// Adaptive, so that slow replies (a remote Redis, a loaded one) cost little polling: after
    /// ``missesToBackOff`` polls in a row that ran out with nothing ready, the next waits sleep
    /// at once, 16 of them, then twice as many after each such run of misses, up to 1,024.
    /// A poll that catches a reply starts over.
    struct BusyPoll {
        let limit: Duration
        /// Polls in a row that ran out.
        private var misses = 0
        /// Waits left that sleep at once.
        private var skip = 0
        /// How many waits the next run of misses makes sleep at once.
        private var backoff = BusyPoll.firstBackoff

        static var missesToBackOff: Int { 4 }
        static var firstBackoff: Int { 16 }
        static var longestBackoff: Int { 1024 }

        init(limit: Duration) {
            self.limit = max(.zero, limit)
        }

        /// Whether this wait for replies polls without sleeping first (a wait that does not
        /// counts towards the end of a back-off).
        mutating func next() -> Bool {
            if limit <= .zero { return false }
            if skip > 0 {
                skip -= 1
                return false
            }
            return true
        }

        /// Records how a poll ended: a reply was ready (`caught`), or the limit (or a deadline)
        /// passed with none. (A poll ended by work from another thread records nothing.)
        mutating func record(caught: Bool) {
            if caught {
                misses = 0
                backoff = Self.firstBackoff
                return
            }
            misses += 1
            if misses >= Self.missesToBackOff {
                misses = 0
                skip = backoff
                backoff = min(backoff * 2, Self.longestBackoff)
            }
        }
    }

    /// Whole milliseconds from now until `deadline`, rounded up (0 once it has passed).
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - .now
        if left <= .zero { return 0 }
        let (seconds, attoseconds) = left.components
        let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(min(total, Int64(Int32.max)))
    }
}
