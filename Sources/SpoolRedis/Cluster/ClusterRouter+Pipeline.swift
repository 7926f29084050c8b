extension ClusterRouter {
    /// Sends the commands, one flush per node (concurrently), and returns the replies in the
    /// order of `commands`.
    ///
    /// Commands whose reply was a redirection or CLUSTERDOWN/TRYAGAIN, or whose node could not
    /// be reached, are then sent again one by one through ``exchange(_:)``, in their order.
    /// Other error replies are values in their place.
    ///
    /// When a node's connection closed with commands in flight, they may have run; they are
    /// sent again, unless one of them does not allow that
    /// (``RedisCommand/allowsResendAfterLostReply``): then the map is reread and the error
    /// thrown, and the other nodes' replies are lost with it, as after any error that is thrown.
    /// - Throws: ``RedisError`` only when a command cannot be delivered at all, and
    ///   `unsupportedCommand`, sending nothing, when one is a transaction command
    ///   (``RedisCommand/clusterUnsupportedReason``).
    func pipeline(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        if commands.isEmpty { return [] }
        try refuseUnsupported(commands)
        var groups: [(node: NodeConnections, indices: [Int])] = []
        var again: [Int] = []
        for index in commands.indices {
            guard let node = try await route(commands[index].hashSlot) else {
                again.append(index)
                continue
            }
            if let group = groups.firstIndex(where: { $0.node === node }) {
                groups[group].indices.append(index)
            } else {
                groups.append((node, [index]))
            }
        }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        var failure: (any Error)?
        if groups.count == 1 {
            let group = groups[0]
            // all of them, unless some had no route (they go through `exchange` below)
            let subset = again.isEmpty ? commands : group.indices.map { commands[$0] }
            do {
                let sent = try await group.node.sharedConnection.pipelineLoadingScripts(subset)
                await place(sent, of: group, into: &replies, again: &again)
            } catch let error as RedisError where isTransient(error) {
                if Self.forbidsResend(after: error, group.indices.map { commands[$0] }) {
                    failure = error
                } else {
                    again += group.indices
                }
            }
        } else {
            await withTaskGroup(of: (Int, Result<[RESPValue], any Error>).self) { tasks in
                for (number, group) in groups.enumerated() {
                    let subset = group.indices.map { commands[$0] }
                    tasks.addTask {
                        do {
                            return (number, .success(try await group.node.sharedConnection.pipelineLoadingScripts(subset)))
                        } catch {
                            return (number, .failure(error))
                        }
                    }
                }
                for await (number, result) in tasks {
                    switch result {
                    case .success(let sent):
                        await place(sent, of: groups[number], into: &replies, again: &again)
                    case .failure(let error as RedisError) where isTransient(error)
                        && !Self.forbidsResend(after: error, groups[number].indices.map { commands[$0] }):
                        again += groups[number].indices
                    case .failure(let error):
                        failure = error
                    }
                }
            }
        }
        if let failure {
            if let error = failure as? RedisError, isTransient(error) { try? await refresh(force: false) }
            throw failure
        }
        for index in again.sorted() {
            replies[index] = try await exchange(commands[index]).reply
        }
        return replies
    }

    /// Whether `commands`, sent together, must not be sent again after they failed with
    /// `error`: it may have let them run, and one of them does not allow a resend then.
    private static func forbidsResend(after error: RedisError, _ commands: [RedisCommand]) -> Bool {
        mayHaveRun(error) && commands.contains { !$0.allowsResendAfterLostReply }
    }

    /// Puts a node's replies in their places, noting the ones to send again; learns from MOVED.
    private func place(
        _ sent: [RESPValue], of group: (node: NodeConnections, indices: [Int]), into replies: inout [RESPValue], again: inout [Int]
    ) async {
        var movedSlots: [(Int, RedisAddress)] = []
        for (position, index) in group.indices.enumerated() {
            replies[index] = sent[position]
            guard case .error(let text) = sent[position],
                  let redirection = ClusterReply(error: text, host: Self.host(of: group.node))
            else { continue }
            again.append(index)
            if case .moved(let slot, let address) = redirection, !movedSlots.contains(where: { $0.0 == slot }) {
                movedSlots.append((slot, address))
            }
        }
        for (slot, address) in movedSlots { await moved(slot, to: address) }
    }
}
