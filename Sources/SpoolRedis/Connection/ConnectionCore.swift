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
    private var queue: Deque<PendingCommand> = []
    private var isShutdown = false
    private var threadWaiting = false
    /// The socket while the thread is connected, for `interrupt()`; -1 otherwise.
    private var socket: Int32 = -1
    private var interruptRequested = false
    /// The largest per-command timeout queued since the thread last took work.
    private var requestedTimeout: Duration?

    /// Why the thread must not send the work it holds (``stopRequested()``).
    enum Stop {
        case shutdown
        case cancelled
    }

    /// Queues work; fails it at once if the connection is shut down.
    func enqueue(_ pending: PendingCommand, timeout: Duration?, address: String) {
        lock.lock()
        if isShutdown {
            lock.unlock()
            pending.fail(RedisError(code: .shutdown, message: "the client was shut down", address: address))
            return
        }
        queue.append(pending)
        if let timeout { requestedTimeout = max(requestedTimeout ?? timeout, timeout) }
        let wake = threadWaiting
        lock.unlock()
        if wake { lock.signal() }
    }

    /// Blocks until there is work; returns it all, or `nil` after shutdown (with what was left).
    func takeWork(into work: inout Deque<PendingCommand>) -> (shutdown: Bool, timeout: Duration?, cancelled: Bool) {
        lock.lock()
        defer { lock.unlock() }
        while queue.isEmpty && !isShutdown {
            threadWaiting = true
            lock.wait()
            threadWaiting = false
        }
        swap(&queue, &work)
        let timeout = requestedTimeout
        requestedTimeout = nil
        let cancelled = interruptRequested
        interruptRequested = false
        return (isShutdown, timeout, cancelled)
    }

    /// Removes and returns everything queued, without waiting.
    func takeQueued() -> Deque<PendingCommand> {
        lock.withLock {
            defer { queue.removeAll() }
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
            return true
        }
    }

    /// Forgets the socket (the connection was dropped or its handshake failed).
    func unregisterSocket() {
        lock.withLock { socket = -1 }
    }

    /// Whether the work taken must not be sent (or, after a failure, failed as what): the
    /// client was shut down, or an interrupt was requested during I/O (used up here).
    func stopRequested() -> Stop? {
        lock.withLock {
            if isShutdown { return .shutdown }
            defer { interruptRequested = false }
            return interruptRequested ? .cancelled : nil
        }
    }

    /// Wakes a thread blocked in a read by shutting its socket down; the command in flight fails.
    func interrupt() {
        lock.withLock {
            interruptRequested = true
            if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Marks the core shut down, wakes the thread and breaks any blocked read.
    func beginShutdown() {
        lock.lock()
        isShutdown = true
        if socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
        lock.unlock()
        lock.signal()
    }
}
