import DequeModule
import Logging

/// A connection without a thread of its own: a ``ConnectionLoop`` writes its commands when
/// they are queued and reads its replies when its socket is readable, between the tasks it
/// runs. The same work as ``ConnectionThread``'s, in steps that wait for no command's reply
/// (a connect and its handshake do wait, within the connect timeout).
///
/// Only a client's shared connections are driven, and callers never hold those, so no
/// ``RedisConnection/sendInterruptible(_:timeout:)`` reaches one: interrupts are not handled
/// here (``ConnectionCore/takeAvailable(into:)`` marks what it takes as finished for them).
///
/// `@unchecked Sendable`: it is made on the thread that creates the connection and handed to
/// the loop under the loop's lock; from then on only the loop's thread touches its state. (A
/// loop that has ended never takes it: ``ConnectionLoop/host(_:)`` closes it on the creating
/// thread, which alone holds it then.)
final class DrivenConnection: @unchecked Sendable {
    private let logic: ConnectionThread
    private var context: HiredisContext?
    /// Taken from the queue, not written yet (only within ``pump()``).
    private var work: Deque<PendingCommand> = []
    /// Written, waiting for replies, in the order they were written.
    private var inFlight: Deque<PendingCommand> = []
    /// The replies read so far for the first of `inFlight`, when it is a batch.
    private var partial: [RESPValue] = []
    /// When the first of `inFlight` times out if no reply comes meanwhile.
    private(set) var deadline: ContinuousClock.Instant?
    /// The read timeout of the work in flight: the command timeout, or longer for a blocking command.
    private var timeout: Duration
    private var output: [UInt8] = []
    private var attempts = ConnectionThread.ConnectAttempts()
    private var lastExchange = ContinuousClock.now
    /// The client was shut down: everything was failed and the socket closed.
    private(set) var isClosed = false

    init(logic: ConnectionThread) {
        self.logic = logic
        self.timeout = logic.configuration.commandTimeout
    }

    private var address: String { logic.configuration.redactedURL }

    /// The socket to watch for replies, while some are awaited.
    var awaitedSocket: Int32? {
        inFlight.isEmpty ? nil : context?.fileDescriptor
    }

    /// Writes what was queued (connecting first if need be); fails it when that cannot be done.
    func pump() {
        let taken = logic.core.takeAvailable(into: &work)
        if taken.shutdown {
            close()
            return
        }
        if work.isEmpty { return }
        // (a shutdown during the connect fails `work` there; the loop, woken by it, closes this next)
        let idleSince = inFlight.isEmpty ? lastExchange : nil
        guard let (connected, isNew) = logic.connection(for: &work, &context, &attempts, idleSince: idleSince) else { return }
        if isNew { timeout = logic.configuration.commandTimeout }
        let wanted = max(logic.configuration.commandTimeout, taken.timeout ?? logic.configuration.commandTimeout)
        let longest = inFlight.isEmpty ? wanted : max(timeout, wanted)
        if longest != timeout {
            connected.setTimeout(longest)
            timeout = longest
        }
        output.removeAll(keepingCapacity: true)
        for pending in work { pending.encodeCommands(into: &output) }
        let wasIdle = inFlight.isEmpty
        inFlight.append(contentsOf: work)
        work.removeAll(keepingCapacity: true)
        do throws(RedisError) {
            try connected.write(output)
        } catch {
            lost(error)
            return
        }
        if output.count > 1 << 20 { output = [] }
        lastExchange = .now
        if wasIdle { deadline = lastExchange + timeout }
    }

    /// Reads the replies that came, without waiting, and hands each to its caller.
    func receive() {
        guard let connected = context, !inFlight.isEmpty else { return }
        do throws(RedisError) {
            guard try connected.receiveAvailable() else { return }
            while !inFlight.isEmpty, let reply = try connected.nextParsedReply() {
                try dispatch(reply, on: connected)
            }
        } catch {
            lost(error)
            return
        }
        lastExchange = .now
        deadline = inFlight.isEmpty ? nil : lastExchange + timeout
    }

    /// Fails the work in flight once its deadline has passed with no reply.
    func checkDeadline(now: ContinuousClock.Instant) {
        guard let deadline, now >= deadline else { return }
        lost(RedisError(code: .timeout, message: "no reply within the command timeout", address: address))
    }

    private func dispatch(_ reply: RESPValue, on connected: HiredisContext) throws(RedisError) {
        switch inFlight[0] {
        case .single(_, let continuation):
            inFlight.removeFirst()
            continuation.resume(returning: reply)
        case .batch(let commands, let continuation):
            partial.append(reply)
            guard partial.count == commands.count else { return }
            inFlight.removeFirst()
            let replies = partial
            partial = []
            continuation.resume(returning: replies)
        case .chained(let commands, let followUp, let continuation):
            partial.append(reply)
            guard partial.count == commands.count else { return }
            inFlight.removeFirst()
            let replies = partial
            partial = []
            guard let next = PendingCommand.command(following: replies, followUp, continuation) else { return }
            // written now, after everything in flight: its reply comes last (see ConnectionThread)
            inFlight.append(.followUp(replies, continuation))
            output.removeAll(keepingCapacity: true)
            next.encodeRESP(into: &output)
            try connected.write(output)
        case .followUp(var replies, let continuation):
            inFlight.removeFirst()
            replies.append(reply)
            continuation.resume(returning: replies)
        }
    }

    /// The connection failed: drops it and fails the work in flight (and what was queued meanwhile).
    private func lost(_ error: RedisError) {
        logic.drop(&context)
        partial = []
        deadline = nil
        timeout = logic.configuration.commandTimeout
        if logic.core.stopRequested() == .shutdown {
            close()
            return
        }
        logic.failAll(&inFlight, with: error)
        logic.logger.info("redis connection lost", metadata: ["error": "\(error)"])
    }

    /// Fails everything with the shut-down error and closes the socket; the loop lets go of it.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        // from here on commands fail at once, as nothing drives the connection any more
        logic.core.beginShutdown()
        logic.drop(&context)
        partial = []
        deadline = nil
        _ = logic.core.takeAvailable(into: &work)
        inFlight.append(contentsOf: work)
        work.removeAll()
        logic.fail(&inFlight, .shutdown)
    }
}
