import DequeModule
import Logging

/// The loop run by a connection's thread: take work, (re)connect, write, read, resume.
struct ConnectionThread: Sendable {
    let id: Int
    let configuration: RedisConfiguration
    let core: ConnectionCore
    let logger: Logger

    private var address: String { configuration.redactedURL }

    func run() {
        var context: HiredisContext?
        var work: Deque<PendingCommand> = []
        var attempts = ConnectAttempts()
        var socketTimeout = configuration.commandTimeout
        var output: [UInt8] = []
        var lastExchange = ContinuousClock.now

        while true {
            let taken = core.takeWork(into: &work)
            if taken.shutdown {
                let error = RedisError(code: .shutdown, message: "the client was shut down", address: address)
                for pending in work { pending.fail(error) }
                work.removeAll()
                break
            }
            if taken.reconnect {
                // an interrupt shut the socket down after its command's reply was read
                drop(&context)
            }
            if taken.cancelled {
                let error = RedisError(code: .cancelled, message: "the command was cancelled", address: address)
                for pending in work { pending.fail(error) }
                work.removeAll()
                continue
            }
            guard let connection = connection(for: &work, &context, &attempts, idleSince: lastExchange) else { continue }
            if connection.isNew { socketTimeout = configuration.commandTimeout }
            // A shutdown or an interrupt that came while connecting stops this work now, before
            // a blocking command is sent: the socket was not registered yet, so neither could
            // break it (one that comes from here on finds it registered and shuts it down). An
            // interrupt that came once the socket was set also shut it down, so the connection
            // is dropped (the next command reconnects).
            if let stop = core.stopRequested() {
                fail(&work, stop)
                drop(&context)
                continue
            }
            let wanted = max(configuration.commandTimeout, taken.timeout ?? configuration.commandTimeout)
            if wanted != socketTimeout {
                context?.setTimeout(wanted)
                socketTimeout = wanted
            }
            defer { lastExchange = .now }
            if let connected = context, let error = exchange(connected, &work, &output) {
                drop(&context)
                if let stop = core.stopRequested() {
                    // the interrupted commands fail as cancelled (those of a shutdown as shut
                    // down: it broke the socket); commands queued meanwhile (a caller may send
                    // its next one the moment it hears of the cancel) did not wait on a failing
                    // server and go out on a new connection
                    fail(&work, stop)
                    continue
                }
                failAll(&work, with: error)
                logger.info("redis connection lost", metadata: ["error": "\(error)"])
            }
        }
        drop(&context)
    }

    /// Writes every queued command, then reads the replies in order, resuming each caller
    /// as its reply arrives. On an I/O error returns it with the unanswered work left in `work`.
    private func exchange(
        _ context: HiredisContext, _ work: inout Deque<PendingCommand>, _ output: inout [UInt8]
    ) -> RedisError? {
        do throws(RedisError) {
            output.removeAll(keepingCapacity: true)
            for pending in work { pending.encodeCommands(into: &output) }
            try context.write(output)
            if output.count > 1 << 20 { output = [] }
            while let pending = work.first {
                switch pending {
                case .single(_, let continuation):
                    let reply = try context.readReply()
                    work.removeFirst()
                    continuation.resume(returning: reply)
                case .batch(let commands, let continuation):
                    var replies: [RESPValue] = []
                    replies.reserveCapacity(commands.count)
                    for _ in 0..<commands.count { replies.append(try context.readReply()) }
                    work.removeFirst()
                    continuation.resume(returning: replies)
                case .chained(let commands, let followUp, let continuation):
                    var replies: [RESPValue] = []
                    replies.reserveCapacity(commands.count + 1)
                    for _ in 0..<commands.count { replies.append(try context.readReply()) }
                    work.removeFirst()
                    // a follow-up the client refuses (`unsupportedReason`) is not sent: the
                    // caller gets the replies without its reply, as after a failure
                    guard let next = PendingCommand.command(following: replies, followUp, continuation) else { continue }
                    // written now, so its reply comes after those of everything written before
                    // it, which is all of `work`: it waits at the end. Queued before the write,
                    // so a failed write still hands the replies back (`PendingCommand.fail`):
                    // out of `work`, the caller would wait forever.
                    work.append(.followUp(replies, continuation))
                    output.removeAll(keepingCapacity: true)
                    next.encodeRESP(into: &output)
                    try context.write(output)
                case .followUp(var replies, let continuation):
                    replies.append(try context.readReply())
                    work.removeFirst()
                    continuation.resume(returning: replies)
                }
            }
            return nil
        } catch {
            return error
        }
    }

    /// What a connection keeps between connect attempts (``connection(for:_:_:idleSince:)``).
    struct ConnectAttempts {
        /// Failed connects in a row.
        var failures = 0
        /// After a failed connect, none is tried before this: commands fail with `lastError`.
        var retryAt: ContinuousClock.Instant?
        var lastError: RedisError?
        /// The last failed TLS setup (``TLSTunnel/SetupFailure``).
        var tlsSetupFailure: TLSTunnel.SetupFailure?
    }

    /// The connection to write `work` on: `context`, or a new one when there is none, or when
    /// the server closed it while it sat idle. `nil`, with `work` failed, when none can be had:
    /// with the last connect's error while a reconnect backs off, with this connect's error, or
    /// as stopped by a shutdown or an interrupt during the connect. `isNew` when it connected
    /// (its socket timeout is the command timeout).
    ///
    /// - Parameter idleSince: the last exchange's end, when nothing is in flight on `context`.
    func connection(
        for work: inout Deque<PendingCommand>, _ context: inout HiredisContext?, _ attempts: inout ConnectAttempts,
        idleSince: ContinuousClock.Instant?
    ) -> (context: HiredisContext, isNew: Bool)? {
        // A connection the server closed while it sat idle would fail the next command with
        // "connection closed", though the command was never sent: check before using one idle
        // for a while, and connect again instead (a poll, no round trip).
        if let connected = context, let idleSince, ContinuousClock.now - idleSince >= Self.idleCheckAfter,
            connected.isReadableWhileIdle
        {
            logger.debug("redis connection closed while idle; reconnecting")
            drop(&context)
        }
        if let context { return (context, false) }
        if let retryAt = attempts.retryAt, ContinuousClock.now < retryAt, let lastError = attempts.lastError {
            failAll(&work, with: lastError)
            return nil
        }
        do throws(RedisError) {
            let connected = try connect(tlsSetupFailure: &attempts.tlsSetupFailure)
            attempts.failures = 0
            attempts.retryAt = nil
            attempts.lastError = nil
            context = connected
            return (connected, true)
        } catch {
            // a shutdown or an interrupt during the connect broke it: the server did not fail,
            // so no backoff, and the interrupt is used up here (left set, it would cancel the
            // next command instead)
            if let stop = core.stopRequested() {
                fail(&work, stop)
                return nil
            }
            attempts.failures += 1
            attempts.retryAt = ContinuousClock.now + backoff(attempts.failures)
            attempts.lastError = error
            logger.debug("redis connect failed", metadata: ["error": "\(error)"])
            failAll(&work, with: error)
            return nil
        }
    }

    /// Fails the work taken and everything queued meanwhile: a caller that queued while a
    /// connect or an exchange was failing has waited already, and must not wait again for the
    /// next attempt (so no call takes much longer than one command timeout).
    ///
    /// The queue is taken before any caller is resumed: a resumed caller may send its next
    /// command at once, and that one did not wait on the failure, so it goes out on a new
    /// connection.
    func failAll(_ work: inout Deque<PendingCommand>, with error: RedisError) {
        let queued = core.takeQueued()
        for pending in work { pending.fail(error) }
        work.removeAll(keepingCapacity: true)
        for pending in queued { pending.fail(error) }
    }

    /// Fails the work taken with the error for `stop`.
    func fail(_ work: inout Deque<PendingCommand>, _ stop: ConnectionCore.Stop) {
        let error = switch stop {
        case .shutdown: RedisError(code: .shutdown, message: "the client was shut down", address: address)
        case .cancelled: RedisError(code: .cancelled, message: "the command was cancelled", address: address)
        }
        for pending in work { pending.fail(error) }
        work.removeAll(keepingCapacity: true)
    }

    func drop(_ context: inout HiredisContext?) {
        if context != nil {
            core.unregisterSocket()
            context = nil
        }
    }

    /// Connects and runs the handshake: AUTH, SELECT, CLIENT SETNAME. `tlsSetupFailure` is the
    /// connection's last failed TLS setup (``TLSTunnel/SetupFailure``).
    private func connect(tlsSetupFailure: inout TLSTunnel.SetupFailure?) throws(RedisError) -> HiredisContext {
        try configuration.validate()
        let context: HiredisContext
        if let tls = configuration.tls, case .tcp(let host, let port) = configuration.address {
            let socket = try TLSTunnel.open(
                host: host, port: port, options: tls, timeout: configuration.connectTimeout, address: address,
                lastSetupFailure: &tlsSetupFailure
            )
            context = try HiredisContext(connectedSocket: socket, redacted: address, timeout: configuration.connectTimeout)
        } else if configuration.tls != nil {
            throw RedisError(code: .connectionFailed, message: "TLS over a unix socket is not supported", address: address)
        } else {
            context = try HiredisContext(
                address: configuration.address,
                redacted: address,
                timeout: configuration.connectTimeout
            )
        }
        context.setTimeout(configuration.commandTimeout)
        // a shutdown during the connect (TCP, TLS) found no socket to break: see it here, under
        // the lock that registers the socket, so that a later one finds it registered
        guard core.register(socket: context.fileDescriptor) else {
            throw RedisError(code: .shutdown, message: "the client was shut down", address: address)
        }
        var handshake: [RedisCommand] = []
        if let username = configuration.username {
            // A named user is always the user authenticated, with an empty password when none
            // was given: a `nopass` ACL user works, one with a password is refused (WRONGPASS).
            // Skipping AUTH would run as `default`, often with every right.
            handshake.append(RedisCommand("AUTH", username, configuration.password ?? ""))
        } else if let password = configuration.password {
            handshake.append(RedisCommand("AUTH", password))
        }
        if configuration.database != 0 {
            handshake.append(RedisCommand("SELECT", String(configuration.database)))
        }
        if let name = configuration.clientName {
            handshake.append(RedisCommand("CLIENT", "SETNAME", "\(name)-\(id)"))
        }
        do throws(RedisError) {
            var output: [UInt8] = []
            for command in handshake { command.encodeRESP(into: &output) }
            try context.write(output)
            for command in handshake {
                let reply = try context.readReply()
                guard case .error(let serverText) = reply else { continue }
                // Redis echoes a command's arguments in some errors (an unknown or renamed
                // AUTH: "with args beginning with: 'user' 'password'"): never pass them on.
                let text = RedisError.redactingHandshakeReply(serverText, password: configuration.password)
                var error = RedisError.reply(text, address: address)
                // A restricted ACL user may lack CLIENT SETNAME; that is not fatal.
                if command.name == "CLIENT" && error.code == .noPermission { continue }
                if command.name == "AUTH", error.code == .authenticationFailed, configuration.password == nil,
                    configuration.username != nil
                {
                    error.message = RedisError.userWithoutPassword(reply: text)
                } else if command.name == "AUTH", error.code != .authenticationFailed {
                    error.message = "AUTH failed: " + error.message
                }
                throw error
            }
        } catch {
            core.unregisterSocket()
            throw error
        }
        logger.debug("redis connected")
        return context
    }

    /// How long a connection sits unused before it is checked for a close by the server.
    /// Shorter idle spells are not checked: a command then saves the system call.
    static var idleCheckAfter: Duration { .milliseconds(100) }

    private func backoff(_ failures: Int) -> Duration {
        let exponent = min(failures - 1, 20)
        let delay = configuration.reconnectBaseDelay * (1 << exponent)
        return min(delay, configuration.reconnectMaxDelay)
    }
}
