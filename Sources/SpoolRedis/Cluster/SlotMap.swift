/// Which master serves each of the 16384 hash slots, as read from `CLUSTER SLOTS`.
package struct SlotMap: Sendable, Equatable {
    /// The masters, each once, in the order `CLUSTER SLOTS` listed them.
    package private(set) var masters: [RedisAddress] = []
    /// For each slot, the index of its master in ``masters``; `unassigned` when none serves it.
    private var owners = [UInt16](repeating: unassigned, count: RedisHashSlot.count)
    private static let unassigned = UInt16.max

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replicas...], ...]`.
    ///
    /// - Parameter host: the host of the node that answered, used when a node reports an
    ///   empty or unknown (`?`) endpoint.
    /// - Throws: ``RedisError`` `protocolError` for a reply of another shape.
    package init(clusterSlots reply: RESPValue, host: String) throws(RedisError) {
        guard let ranges = reply.array else {
            throw RedisError(code: .protocolError, message: "CLUSTER SLOTS returned \(reply)")
        }
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  0 <= start, start <= end, end < RedisHashSlot.count,
                  let node = parts[2].array, node.count >= 2, let port = node[1].int
            else {
                throw RedisError(code: .protocolError, message: "CLUSTER SLOTS returned a malformed range: \(range)")
            }
            var nodeHost = node[0].string ?? ""
            if nodeHost.isEmpty || nodeHost == "?" { nodeHost = host }
            let owner = index(of: .tcp(host: nodeHost, port: port))
            for slot in start...end { owners[slot] = owner }
        }
    }

    /// The master serving `slot`, or `nil` when no node serves it.
    package func master(of slot: Int) -> RedisAddress? {
        let owner = owners[slot]
        return owner == Self.unassigned ? nil : masters[Int(owner)]
    }

    /// How many slots some master serves; 16384 when the cluster covers every slot.
    package var coveredSlots: Int {
        owners.lazy.filter { $0 != Self.unassigned }.count
    }

    /// Records that `slot` moved to `address` (after a MOVED reply).
    package mutating func assign(_ slot: Int, to address: RedisAddress) {
        owners[slot] = index(of: address)
    }

    private mutating func index(of address: RedisAddress) -> UInt16 {
        if let existing = masters.firstIndex(of: address) { return UInt16(existing) }
        masters.append(address)
        return UInt16(masters.count - 1)
    }
}
