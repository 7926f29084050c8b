import Synchronization

extension RedisConnection {
    /// Sends a command; an EVALSHA whose script the server lacks (NOSCRIPT) is loaded with
    /// SCRIPT LOAD and sent once more.
    func sendLoadingScript(_ command: RedisCommand) async throws -> RESPValue {
        do {
            return try await send(command)
        } catch let error as RedisError where error.code == .noScript && command.script != nil {
            try await load(command.script!)
            return try await send(command)
        }
    }

    /// Sends the commands in one flush; EVALSHA commands that met NOSCRIPT are sent again,
    /// in their original order, after loading their scripts. Error replies are values.
    ///
    /// A script not loaded yet on this connection's socket goes ahead of the commands in the
    /// same flush (`SCRIPT LOAD`, its reply dropped), so that the commands run in their order:
    /// an EVALSHA that met NOSCRIPT ran after the others, and a batch push stored its jobs with
    /// a dedup key or a delay after the rest. NOSCRIPT is still handled, for a script the
    /// server lost while the socket stayed open (`SCRIPT FLUSH`).
    func pipelineLoadingScripts(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        let (loads, connect) = loadsAhead(of: commands)
        if loads.isEmpty { return try await reloadingScripts(commands, replies: pipeline(commands)) }
        let replies = try await pipeline(loads.map(\.command) + commands)
        return try await reloadingScripts(commands, replies: loaded(loads, on: connect, replies))
    }

    /// ``pipeline(_:then:timeout:)``, with EVALSHA commands among `commands` that met NOSCRIPT
    /// sent again (alone, after the follow-up), and scripts loaded ahead, as in
    /// ``pipelineLoadingScripts(_:)``; `followUp` sees the commands' replies only.
    func pipelineLoadingScripts(_ commands: [RedisCommand], then followUp: @escaping RedisFollowUp) async throws -> [RESPValue] {
        if !loadsAhead(of: commands).loads.isEmpty { return try await pipelineLoadingAhead(commands, then: followUp) }
        return try await reloadingScripts(commands, replies: pipeline(commands, then: followUp))
    }

    /// The `then` form with scripts to load ahead: a function of its own, so that the usual
    /// call (every script loaded) keeps a small async frame (a larger one cost the fetch loop's
    /// reads an allocation each).
    @inline(never)
    private func pipelineLoadingAhead(_ commands: [RedisCommand], then followUp: @escaping RedisFollowUp) async throws -> [RESPValue] {
        let (loads, connect) = loadsAhead(of: commands)
        let count = loads.count
        let replies = try await pipeline(loads.map(\.command) + commands) { replies in followUp(Array(replies.dropFirst(count))) }
        return try await reloadingScripts(commands, replies: loaded(loads, on: connect, replies))
    }

    /// A `SCRIPT LOAD` to send ahead of `commands`, for each script among them not known to be
    /// loaded on this connection's current socket, and that socket's ``connectCount``: the
    /// loads are noted as done on it (a reconnect meanwhile makes them count for none).
    @inline(never)
    private func loadsAhead(of commands: [RedisCommand]) -> (loads: [(script: RedisScript, command: RedisCommand)], connect: Int) {
        // most pipelines have no script: no lock, no allocation
        guard commands.contains(where: { $0.script != nil }) else { return ([], 0) }
        let connect = connectCount
        let unknown: [RedisScript] = loadedScripts.withLock { known in
            if known.connect != connect { known = LoadedScripts(connect: connect) }
            var unknown: [RedisScript] = []
            for command in commands {
                guard let script = command.script, !known.shas.contains(script.sha1),
                      !unknown.contains(where: { $0.sha1 == script.sha1 }) else { continue }
                unknown.append(script)
            }
            return unknown
        }
        return (unknown.map { ($0, RedisCommand("SCRIPT", "LOAD", $0.source)) }, connect)
    }

    /// The replies after those of `loads`, noting each script as loaded on this socket. One
    /// the server refused to load (a user without `script|load`, who may still run scripts
    /// others loaded) is noted too: it is not asked again on this socket, and its EVALSHA
    /// meets NOSCRIPT as before, if the server lacks it.
    private func loaded(
        _ loads: [(script: RedisScript, command: RedisCommand)], on connect: Int, _ replies: [RESPValue]
    ) -> [RESPValue] {
        let now = connectCount
        loadedScripts.withLock { known in
            // sent before a reconnect, they may have reached the server before it: not noted
            guard known.connect == connect, connect == now else { return }
            for load in loads { known.shas.insert(load.script.sha1) }
        }
        return Array(replies.dropFirst(loads.count))
    }

    /// Sends again, after loading their scripts, the EVALSHA commands whose replies in
    /// `replies` (the first `commands.count` of them) are NOSCRIPT errors.
    private func reloadingScripts(_ commands: [RedisCommand], replies: [RESPValue]) async throws -> [RESPValue] {
        var replies = replies
        var missing: [Int] = []
        for index in commands.indices where commands[index].script != nil {
            if case .error(let text) = replies[index], text.hasPrefix("NOSCRIPT") { missing.append(index) }
        }
        if missing.isEmpty { return replies }
        var loaded = Set<String>()
        for index in missing {
            let script = commands[index].script!
            if loaded.insert(script.sha1).inserted { try await load(script) }
        }
        let retried = try await pipeline(missing.map { commands[$0] })
        for (slot, index) in missing.enumerated() { replies[index] = retried[slot] }
        return replies
    }

    /// Loads `script` with SCRIPT LOAD and checks the server names it by the same SHA-1.
    func load(_ script: RedisScript) async throws {
        let reply = try await send(RedisCommand("SCRIPT", "LOAD", script.source))
        if reply.string != script.sha1 {
            throw RedisError(
                code: .protocolError,
                message: "SCRIPT LOAD returned \(reply) for a script whose SHA-1 is \(script.sha1)",
                address: redactedAddress
            )
        }
        let connect = connectCount
        loadedScripts.withLock { known in
            if known.connect != connect { known = LoadedScripts(connect: connect) }
            known.shas.insert(script.sha1)
        }
    }
}

/// The scripts a connection loaded on its current socket (``RedisConnection/connectCount``).
struct LoadedScripts: Sendable {
    var connect = -1
    var shas: Set<String> = []
}
