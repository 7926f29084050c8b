import Logging
import Synchronization

extension ClusterRouter {
    /// Sends a command to the master of its key's slot and returns its reply and the node
    /// that gave it. Follows MOVED and ASK; after CLUSTERDOWN, TRYAGAIN or a lost connection
    /// waits (capped exponential backoff), rereads the map and sends again, up to
    /// `maxAttempts` sends in all. Other error replies are returned as values.
    ///
    /// A command whose connection broke while it was in flight may have run: it is sent
    /// again all the same, so a cluster command runs at least once (Spool's job ids and
    /// dedup set absorb the repeat); unless it does not allow that
    /// (``RedisCommand/allowsResendAfterLostReply``): then the map is reread and the error
    /// thrown.
    /// - Throws: ``RedisError``: the last failure once the attempts are used up, a timeout,
    ///   or `cancelled`.
    ///
    /// A command without a key goes to any master: see ``exchangeKeyless(_:)``.
    func exchange(_ command: RedisCommand) async throws -> (reply: RESPValue, node: NodeConnections) {
        guard let slot = command.hashSlot else { return try await exchangeKeyless(command) }
        var asking: NodeConnections?
        var waits = 0
        var attempt = 0
        while true {
            attempt += 1
            let isLast = attempt >= settings.maxAttempts
            var target = asking
            do {
                if target == nil { target = try await route(slot) }
            } catch let error as RedisError where isTransient(error) {
                if isLast { throw error.afterAttempts(attempt) }
                try await pause(&waits)
                continue
            }
            guard let node = target else {
                let error = RedisError(
                    code: .serverError, message: "CLUSTERDOWN no node serves hash slot \(slot)",
                    address: configuration.redactedURL
                )
                if isLast { throw error }
                try await pause(&waits)
                try? await refresh(force: true)
                continue
            }
            let reply: RESPValue
            do {
                reply = try await perform(command, on: node, asking: asking != nil)
            } catch let error as RedisError where isTransient(error) {
                if Self.mayHaveRun(error), !command.allowsResendAfterLostReply {
                    try? await refresh(force: false)
                    throw error
                }
                if isLast { throw error.afterAttempts(attempt) }
                logger.debug("redis cluster node unreachable; retrying", metadata: ["error": "\(error)"])
                asking = nil
                try await pause(&waits)
                try? await refresh(force: true)
                continue
            } catch let error as RedisError where error.code == .timeout {
                try? await refresh(force: false, avoiding: node.configuration.address)
                throw error
            }
            asking = nil
            guard !isLast, case .error(let text) = reply,
                  let redirection = ClusterReply(error: text, host: Self.host(of: node))
            else { return (reply, node) }
            switch redirection {
            case .moved(let movedSlot, let address):
                await moved(movedSlot, to: address)
            case .ask(_, let address):
                asking = self.node(at: address)
                state.withLock { $0.statistics.asked += 1 }
            case .tryAgain:
                try await pause(&waits)
            case .retryLater:
                try await pause(&waits)
                try? await refresh(force: true)
            }
        }
    }

    /// Sends a command without a key to the masters in turn until one answers, and returns
    /// its reply and that master: first the master that last answered a keyless command, then
    /// the others in the map's order, each with the normal command timeout. Any reply counts
    /// as an answer (an error reply is returned as a value) except CLUSTERDOWN, MASTERDOWN,
    /// LOADING and TRYAGAIN, which pass the command on to the next master like a refused
    /// connection.
    ///
    /// A master that cannot be reached is passed over; when none could, the client waits as
    /// after a lost connection, rereads the map and goes round again. A master that timed out
    /// is not asked again by this call (each timeout costs the whole command timeout). All in
    /// all at most `maxAttempts` sends, so one dead master of several costs one refused connect
    /// (or one timeout), not the whole retry budget. A keyless command that timed out on one
    /// master may have run there and runs again on the next (at least once, as for keyed
    /// commands after a lost connection); one that does not allow that
    /// (``RedisCommand/allowsResendAfterLostReply``) throws that master's error instead.
    /// - Throws: ``RedisError`` naming every master tried and its failure (by redacted
    ///   address) when none answered; a reading of the map's error when none could be read;
    ///   other errors (`cancelled`, `shutdown`, authentication) as they come.
    func exchangeKeyless(_ command: RedisCommand) async throws -> (reply: RESPValue, node: NodeConnections) {
        var failures: [(node: String, error: RedisError)] = []
        var timedOut: Set<RedisAddress> = []
        var waits = 0
        var attempt = 0
        while true {
            do {
                _ = try await route(nil)
            } catch let error as RedisError where isTransient(error) {
                attempt += 1
                if attempt >= settings.maxAttempts { throw error.afterAttempts(attempt) }
                try await pause(&waits)
                continue
            }
            let candidates = keylessCandidates(skipping: timedOut)
            if candidates.isEmpty { throw noMasterAnswered(command, failures, attempts: attempt) }
            for node in candidates {
                attempt += 1
                let name = node.configuration.redactedURL
                let failure: RedisError
                do {
                    let reply = try await perform(command, on: node, asking: false)
                    if case .error(let text) = reply, let reason = ClusterReply(error: text, host: Self.host(of: node)),
                       reason == .retryLater || reason == .tryAgain
                    {
                        failure = RedisError.reply(text, address: name)   // CLUSTERDOWN, LOADING...: ask another
                    } else {
                        keylessAnswered(by: node.configuration.address)
                        return (reply, node)
                    }
                } catch let error as RedisError where isTransient(error) || error.code == .timeout {
                    if Self.mayHaveRun(error), !command.allowsResendAfterLostReply { throw error }
                    failure = error
                    if error.code == .timeout { timedOut.insert(node.configuration.address) }
                }
                failures.removeAll { $0.node == name }
                failures.append((name, failure))
                logger.debug("redis cluster master did not answer a keyless command; trying the next", metadata: [
                    "redis.cluster.node": "\(name)", "error": "\(failure)",
                ])
                if attempt >= settings.maxAttempts { throw noMasterAnswered(command, failures, attempts: attempt) }
            }
            try await pause(&waits)
            try? await refresh(force: true)
        }
    }

    /// The error of a keyless command no master answered: each master tried, with its last failure.
    private func noMasterAnswered(
        _ command: RedisCommand, _ failures: [(node: String, error: RedisError)], attempts: Int
    ) -> RedisError {
        let tried = failures.map { "\($0.node) (\($0.error.code): \($0.error.message))" }.joined(separator: ", ")
        return RedisError(
            code: failures.last?.error.code ?? .connectionFailed,
            message: "no cluster master answered \(command.name); tried \(tried.isEmpty ? "none" : tried)"
                + " (gave up after \(attempts) attempts over the cluster)",
            address: configuration.redactedURL
        )
    }

    /// Sends `command` on `node`'s shared connection, after ASKING when `asking`, loading its
    /// script on NOSCRIPT (scripts are per node).
    private func perform(_ command: RedisCommand, on node: NodeConnections, asking: Bool) async throws -> RESPValue {
        let connection = node.sharedConnection
        guard asking else { return try await connection.pipelineLoadingScripts([command])[0] }
        var replies = try await connection.pipeline([RedisCommand("ASKING"), command])
        if let script = command.script, replies[1].errorMessage?.hasPrefix("NOSCRIPT") == true {
            try await connection.load(script)
            replies = try await connection.pipeline([RedisCommand("ASKING"), command])
        }
        // A refused ASKING (a user without +asking) is the answer: the command then went
        // without it and was sent back with MOVED, which would repeat until the attempts ran out
        if replies[0].errorMessage != nil { return replies[0] }
        return replies[1]
    }

    /// Whether a command that failed with `error` may have reached its node and run: any
    /// failure but a connection never made (`connectionFailed`: nothing was sent).
    static func mayHaveRun(_ error: RedisError) -> Bool {
        error.code != .connectionFailed
    }

    /// Whether `error` means "this node cannot be reached now": the command is worth sending
    /// again once the map was reread.
    func isTransient(_ error: RedisError) -> Bool {
        switch error.code {
        case .connectionFailed, .connectionClosed: return true
        // a node closed while this command waited for it; the client itself still runs
        case .shutdown: return !state.withLock { $0.isShutdown }
        default: return false
        }
    }

    /// Sleeps the next backoff delay and counts the retry.
    private func pause(_ waits: inout Int) async throws {
        let delay = min(settings.retryBaseDelay * (1 << min(waits, 20)), settings.retryMaxDelay)
        waits += 1
        state.withLock { $0.statistics.retried += 1 }
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw RedisError(code: .cancelled, message: "the command was cancelled", address: configuration.redactedURL)
        }
    }

    /// Sends one command; an error reply throws ``RedisError`` naming the node.
    /// - Throws: `unsupportedCommand`, sending nothing, for a transaction command
    ///   (``RedisCommand/clusterUnsupportedReason``).
    func send(_ command: RedisCommand) async throws -> RESPValue {
        try refuseUnsupported([command])
        let (reply, node) = try await exchange(command)
        if case .error(let text) = reply { throw RedisError.reply(text, address: node.configuration.redactedURL).forCluster() }
        return reply
    }

    /// Throws `unsupportedCommand` for the first of `commands` a cluster client must not send
    /// (``RedisCommand/clusterUnsupportedReason``).
    func refuseUnsupported(_ commands: [RedisCommand]) throws(RedisError) {
        for command in commands {
            // every reason, before any node's part of a pipeline goes out
            if let reason = command.clusterUnsupportedReason ?? command.unsupportedReason {
                throw RedisError(code: .unsupportedCommand, message: reason, address: configuration.redactedURL)
            }
        }
    }

    /// Leases a dedicated connection to the master of `key`'s slot (any master for `nil`).
    ///
    /// A MOVED error thrown by `body` updates the map, and a lost connection, CLUSTERDOWN or
    /// UNBLOCKED (a blocked command of a master that became a replica) rereads it, so the next
    /// lease goes to the right node; the error itself is rethrown.
    func withDedicatedConnection<T>(forKey key: String?, _ body: (RedisConnection) async throws -> T) async throws -> T {
        let slot = key.map { RedisHashSlot.of($0) }
        guard let node = try await route(slot) else {
            throw RedisError(
                code: .serverError, message: "CLUSTERDOWN no node serves hash slot \(slot ?? 0)", address: configuration.redactedURL
            )
        }
        let connection = try node.lease()
        defer { node.giveBack(connection) }
        do {
            return try await body(connection)
        } catch let error as RedisError {
            switch ClusterReply(error: error.message, host: Self.host(of: node)) {
            case .moved(let movedSlot, let address):
                await moved(movedSlot, to: address)
            case .retryLater:
                try? await refresh(force: true)
            case nil where error.message.hasPrefix("UNBLOCKED"):
                try? await refresh(force: true)
            case .tryAgain, .ask, nil:
                if isTransient(error) || error.code == .timeout {
                    try? await refresh(force: false, avoiding: error.code == .timeout ? node.configuration.address : nil)
                }
            }
            throw error.forCluster()
        }
    }
}

extension RedisError {
    /// The same error, its message noting how many times the command was sent.
    func afterAttempts(_ attempts: Int) -> RedisError {
        var error = forCluster()
        error.message += " (gave up after \(attempts) attempts over the cluster)"
        return error
    }
}
