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
    func pipelineLoadingScripts(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await reloadingScripts(commands, replies: pipeline(commands))
    }

    /// ``pipeline(_:then:timeout:)``, with EVALSHA commands among `commands` that met NOSCRIPT
    /// sent again (alone, after the follow-up) as in ``pipelineLoadingScripts(_:)``.
    func pipelineLoadingScripts(_ commands: [RedisCommand], then followUp: @escaping RedisFollowUp) async throws -> [RESPValue] {
        try await reloadingScripts(commands, replies: pipeline(commands, then: followUp))
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
    }
}
