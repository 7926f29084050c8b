import DequeModule
import Logging
import Synchronization

/// One Redis connection: a hiredis context owned by a dedicated thread (or driven by a
/// ``ConnectionLoop``'s thread, for a client made with ``RedisClient/init(following:loop:)``).
///
/// Any number of tasks may call ``send(_:timeout:)`` concurrently: the thread drains
/// everything queued, writes it in one flush and reads the replies in order, so callers
/// share the connection and are pipelined for free (a loop writes what was queued while
/// earlier replies are still due). After an I/O error or timeout every
/// command in flight fails, and the next command reconnects (with capped exponential
/// backoff between failed attempts). Commands arriving while a reconnect is backing off
/// fail at once with the last connection error: no caller ever waits forever.
public final class RedisConnection: Sendable {
    /// A number identifying this connection in logs (`redis.connection.id`).
    public let id: Int
    private let core: ConnectionCore
    private let address: String
    private let worker: ConnectionThread
    private let thread: Mutex<ThreadState>
    /// Whether the thread was started: checked before each command without the lock.
    private let threadStarted: Atomic<Bool>
    /// The scripts loaded on this connection's current socket (see `pipelineLoadingScripts`).
    let loadedScripts = Mutex(LoadedScripts())

    /// - Parameter loop: the loop that drives this connection's I/O, instead of a thread of
    ///   its own (``ConnectionLoop``).
    init(id: Int, configuration: RedisConfiguration, logger: Logger, loop: ConnectionLoop? = nil) {
        self.id = id
        let core = ConnectionCore(loop: loop)
        self.core = core
        self.address = configuration.redactedURL
        var logger = logger
        logger[metadataKey: "redis.connection.id"] = "\(id)"
        let worker = ConnectionThread(id: id, configuration: configuration, core: core, logger: logger)
        self.worker = worker
        var state = ThreadState()
        if let loop {
            loop.host(DrivenConnection(logic: worker))
            self.threadStarted = Atomic(true)
            self.thread = Mutex(state)
            return
        }
        do {
            state.thread = try JoinableThread(name: "spool-conn-\(id)") { worker.run() }
        } catch {
            // not fatal: each command tries again to start it, and fails with this until one can
            logger.error("a Redis connection has no thread yet; its commands fail until one can be started",
                         metadata: ["error": "\(error)"])
        }
        self.threadStarted = Atomic(state.thread != nil)
        self.thread = Mutex(state)
    }

    /// The connection's thread, once started; `closed` once ``close()`` was called (no thread
    /// is started after that: commands fail as shut down).
    private struct ThreadState: ~Copyable {
        var thread: JoinableThread?
        var closed = false
    }

    /// Starts the connection's thread if it is not running (it could not be started before):
    /// throws `connectionFailed` when it still cannot be. Costs one atomic load once it runs.
    @inline(__always)
    private func requireThread() throws(RedisError) {
        if threadStarted.load(ordering: .acquiring) { return }
        try startThread()
    }

    private func startThread() throws(RedisError) {
        let failure = thread.withLock { state -> ThreadStartFailure? in
            if state.thread != nil || state.closed { return nil }
            do throws(ThreadStartFailure) {
                state.thread = try JoinableThread(name: "spool-conn-\(id)") { [worker] in worker.run() }
                threadStarted.store(true, ordering: .releasing)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            throw RedisError(code: .connectionFailed, message: "no thread could be started for this connection (\(failure.cause))", address: address)
        }
    }

    deinit {
        close()
    }

    /// Sends one command and returns its reply.
    ///
    /// - Parameter timeout: a longer read timeout for this command (e.g. a `BLOCK` read);
    ///   defaults to the configured command timeout.
    /// - Throws: ``RedisError``: an error reply (with the server's text), a timeout, a
    ///   connection failure, or `unsupportedCommand` for a command that breaks the one reply
    ///   per command this client relies on (`SUBSCRIBE`, `MONITOR`, `CLIENT REPLY OFF`, ...).
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RESPValue {
        try await send(command, timeout: timeout, ticket: nil)
    }

    /// Sends one command; cancelling the calling task interrupts it (the connection reconnects).
    ///
    /// Meant for blocking commands on a dedicated connection, where nothing else is in flight.
    /// A cancel that comes once the reply was read changes nothing: it never reaches a later
    /// command, on this lease or the next.
    public func sendInterruptible(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RESPValue {
        let ticket = InterruptTicket()
        return try await withTaskCancellationHandler {
            try await send(command, timeout: timeout, ticket: ticket)
        } onCancel: {
            core.interrupt(ticket)
        }
    }

    private func send(_ command: RedisCommand, timeout: Duration?, ticket: InterruptTicket?) async throws -> RESPValue {
        try refuseUnsupported(command)
        try requireThread()
        let reply = try await withUnsafeThrowingContinuation { continuation in
            core.enqueue(.single(command, continuation), timeout: timeout, address: address, ticket: ticket)
        }
        if case .error(let text) = reply { throw RedisError.reply(text, address: address) }
        return reply
    }

    /// Throws `unsupportedCommand` for a command the client must not send (``RedisCommand/unsupportedReason``).
    private func refuseUnsupported(_ command: RedisCommand) throws(RedisError) {
        if let reason = command.unsupportedReason {
            throw RedisError(code: .unsupportedCommand, message: reason, address: address)
        }
    }

    /// Sends the commands in one flush and returns their replies in order.
    ///
    /// Error replies come back as ``RESPValue/error(_:)`` in their place; only connection
    /// failures throw, and `unsupportedCommand` (nothing sent) as for ``send(_:timeout:)``.
    /// - Parameter timeout: a longer read timeout for these commands (e.g. a `BLOCK` read
    ///   with more behind it); defaults to the configured command timeout.
    public func pipeline(_ commands: [RedisCommand], timeout: Duration? = nil) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        for command in commands { try refuseUnsupported(command) }
        try requireThread()
        return try await withUnsafeThrowingContinuation { continuation in
            core.enqueue(.batch(commands, continuation), timeout: timeout, address: address)
        }
    }

    /// Sends the commands in one flush; when their replies are read, `followUp` may name one
    /// more command, which the connection's thread (or loop) writes at once (no task is woken for it).
    /// Returns the commands' replies, then the follow-up's reply if there was one.
    ///
    /// For a second step that depends on the first one's replies, e.g. dedup verdicts for the
    /// jobs a read delivered, at the cost of a round trip but not of a wake-up of the caller.
    /// Error replies are values in their place; connection failures throw, except one after
    /// the commands' replies were read: then the call returns those replies without the
    /// follow-up's, because what the commands did (say, a read that moved entries to the
    /// caller's pending list) must not be lost with the follow-up. A follow-up the client
    /// refuses (`unsupportedCommand`, see ``send(_:timeout:)``) is not sent either.
    public func pipeline(
        _ commands: [RedisCommand], then followUp: @escaping RedisFollowUp, timeout: Duration? = nil
    ) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        for command in commands { try refuseUnsupported(command) }
        try requireThread()
        return try await withUnsafeThrowingContinuation { continuation in
            core.enqueue(.chained(commands, followUp, continuation), timeout: timeout, address: address)
        }
    }

    /// Fails everything queued, stops the thread and waits for it; idempotent. A connection a
    /// ``ConnectionLoop`` drives is failed and closed on the loop's next turn, unwaited.
    public func close() {
        core.beginShutdown()
        let thread = self.thread.withLock { state in
            state.closed = true
            return state.thread.take()
        }
        thread?.join()
    }

    /// The server's redacted address.
    public var redactedAddress: String { address }

    /// How many commands were ever queued on this connection (for tests).
    var commandsQueued: UInt64 { core.commandsQueued }

    /// How many times this connection connected so far (see ``ConnectionCore/connectCount``).
    var connectCount: Int { core.connectCount }
}
