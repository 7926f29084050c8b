import DequeModule
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state shared between callers and a connection's thread.
///
/// `@unchecked Sendable`: every stored `var` is read and written only with `lock` held.
final class ConnectionCore: @unchecked Sendable {
    let lock = ConditionLock()
    /// The loop that drives this connection's I/O, for one without a thread of its own: told
    /// of new work instead of a thread being signalled.
    let loop: ConnectionLoop?
    private var queue: Deque<PendingCommand> = []
    private var isShutdown = false
    private var threadWaiting = false
    /// The socket while the thread is connected, for `interrupt()`; -1 otherwise.
    private var socket: Int32 = -1
    /// Whether `interrupt()` shut `socket` down: the connection is unusable even when the
    /// interrupted command's reply was read first.
    private var socketInterrupted = false
    /// Sockets registered so far (``connectCount``).
    private var connects = 0
    /// How many commands were ever queued: a command's sequence number is this count just
    /// after it was queued.
    private var queuedCount: UInt64 = 0
    /// The sequence number of the last command the thread took.
    private var takenThrough: UInt64 = 0
    /// Every command up to this sequence number was answered or failed.
    private var finishedThrough: UInt64 = 0
    /// The command an interrupt was requested for, until the thread acts on it or it finished.
    private var interruptTarget: UInt64?
    /// The largest per-command timeout queued since the thread last took work.
    private var requestedTimeout: Duration?

    init(loop: ConnectionLoop? = nil) {
        self.loop = loop
    }

    /// Why the thread must not send the work it holds (``stopRequested()``).
    enum Stop {
        case shutdown
        case cancelled
    }

    /// Queues work; fails it at once if the connection is shut down, or if `ticket`'s task
    /// was cancelled before the work was queued.
    func enqueue(_ pending: PendingCommand, timeout: Duration?, address: String, ticket: InterruptTicket? = nil) {
        lock.lock()
        if isShutdown {
            lock.unlock()
            pending.fail(RedisError(code: .shutdown, message: "the client was shut down", address: address))
            return
        }
        if let ticket, ticket.cancelledBeforeQueued {
            lock.unlock()
            pending.fail(RedisError(code: .cancelled, message: "the command was cancelled", address: address))
            return
        }
        queue.append(pending)
        queuedCount += 1
        ticket?.sequence = queuedCount
        if let timeout { requestedTimeout = max(requestedTimeout ?? timeout, timeout) }
        let wake = threadWaiting
        lock.unlock()
        if let loop {
            loop.connectionHasWork()
        } else if wake {
            lock.signal()
        }
    }

    /// Takes everything queued without waiting, for a connection driven by a ``ConnectionLoop``
    /// (it sends more while earlier work is in flight); `shutdown` once the client was shut down.
    func takeAvailable(into work: inout Deque<PendingCommand>) -> (shutdown: Bool, timeout: Duration?) {
        lock.withLock {
            work.append(contentsOf: queue)
            queue.removeAll(keepingCapacity: true)
            takenThrough = queuedCount
            finishedThrough = takenThrough
            let timeout = requestedTimeout
            requestedTimeout = nil
            return (isShutdown, timeout)
        }
    }

    /// Blocks until there is work and returns it all; `shutdown` with what was left after
    /// shutdown, `cancelled` when an interrupt was requested for some of it, `reconnect` when
    /// an interrupt shut the socket down (after the reply it was meant for was read).
    func takeWork(into work: inout Deque<PendingCommand>) -> (shutdown: Bool, timeout: Duration?, cancelled: Bool, reconnect: Bool) {
        lock.lock()
        defer { lock.unlock() }
        // the thread comes back for more only when everything it took before has finished
        finishedThrough = takenThrough
        while queue.isEmpty && !isShutdown {
            threadWaiting = true
            lock.wait()
            threadWaiting = false
        }
        swap(&queue, &work)
        takenThrough = queuedCount
        let timeout = requestedTimeout
        requestedTimeout = nil
        return (isShutdown, timeout, takeInterrupt(), socketInterrupted)
    }

    /// Removes and returns everything queued, without waiting.
    func takeQueued() -> Deque<PendingCommand> {
        lock.withLock {
            defer { queue.removeAll() }
            takenThrough = queuedCount
            // the timeouts asked for were those of the commands taken here
            requestedTimeout = nil
            return queue
        }
    }

    /// Records the connected socket, so `interrupt()` and `beginShutdown()` can reach a
    /// blocked read; `false` (and not recorded) once shut down: the caller must not use it.
    func register(socket fd: Int32) -> Bool {
        lock.withLock {
            if isShutdown { return false }
            socket = fd
            socketInterrupted = false
            connects &+= 1
            return true
        }
    }

    /// How many commands were ever queued (for tests that must know a command is queued).
    var commandsQueued: UInt64 { lock.withLock { queuedCount } }

    /// How many sockets were registered so far: it changes with each (re)connect, after which
    /// the server may be another one, or a restarted one, without the scripts loaded before.
    var connectCount: Int { lock.withLock { connects } }

    /// Forgets the socket (the connection was dropped or its handshake failed).
    func unregisterSocket() {
        lock.withLock {
            socket = -1
            socketInterrupted = false
        }
    }

    /// Whether the work taken must not be sent (or, after a failure, failed as what): the
    /// client was shut down, or an interrupt was requested for some of that work (used up here).
    func stopRequested() -> Stop? {
        lock.withLock {
            if isShutdown { return .shutdown }
            return takeInterrupt() ? .cancelled : nil
        }
    }

    /// Whether the interrupt requested is for work the thread took and has not finished;
    /// forgets it if so, or if its command has finished. Call with the lock held.
    private func takeInterrupt() -> Bool {
        guard let target = interruptTarget else { return false }
        if target <= finishedThrough {
            interruptTarget = nil   // its command finished before the thread saw the request
            return false
        }
        guard target <= takenThrough else { return false }   // still queued
        interruptTarget = nil
        return true
    }

    /// Cancels the command `ticket` was queued for: a queued one fails before it is sent, one
    /// in flight fails as the socket is shut down (so does anything in flight with it). Does
    /// nothing once that command finished, so a late cancel cannot reach later commands.
    func interrupt(_ ticket: InterruptTicket) {
        lock.withLock {
            guard let sequence = ticket.sequence else {
                ticket.cancelledBeforeQueued = true
                return
            }
            if sequence <= finishedThrough { return }
            interruptTarget = max(interruptTarget ?? sequence, sequence)
            if sequence <= takenThrough && socket >= 0 && !socketInterrupted {
                _ = shutdown(socket, Int32(SHUT_RDWR))
                socketInterrupted = true
            }
        }
    }

    /// Marks the core shut down, wakes the thread and breaks any blocked read.
    func beginShutdown() {
        lock.lock()
        isShutdown = true
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        lock.unlock()
        lock.signal()
        loop?.connectionHasWork()
    }
}

/// Ties an interrupt to the command it was requested for (``RedisConnection/sendInterruptible(_:timeout:)``).
///
/// `@unchecked Sendable`: both fields are read and written only with the core's lock held.
final class InterruptTicket: @unchecked Sendable {
    /// The command's sequence number once queued.
    var sequence: UInt64?
    /// The task was cancelled before the command was queued: it is failed, not queued.
    var cancelledBeforeQueued = false
}
