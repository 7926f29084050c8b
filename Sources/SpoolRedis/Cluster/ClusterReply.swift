/// What a cluster-specific error reply asks the client to do.
package enum ClusterReply: Sendable, Equatable {
    /// `MOVED slot host:port`: the slot lives elsewhere now; update the map and resend there.
    case moved(slot: Int, to: RedisAddress)
    /// `ASK slot host:port`: this key is being migrated; send ASKING then the command there, once.
    case ask(slot: Int, to: RedisAddress)
    /// `TRYAGAIN`: a command of several keys met a slot being migrated, and one of its keys
    /// is missing on this node: split off by the migration, or not existing at all (then
    /// every resend meets it until the migration ends). The slot's owner has not changed:
    /// wait and resend, without rereading the map (the migration's end is announced by a MOVED).
    case tryAgain
    /// `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`: the cluster is in flux; wait, reread the map
    /// and resend.
    case retryLater

    /// Classifies an error reply's text; `nil` for an ordinary error.
    ///
    /// Only the first three words of a MOVED or ASK count: the text may be a
    /// ``RedisError/message``, which adds a hint after the server's reply.
    ///
    /// - Parameter host: the host of the node that replied, for an address without one.
    package init?(error text: String, host: String) {
        let prefix = text.prefix { $0 != " " }
        switch prefix {
        case "MOVED", "ASK":
            let parts = text.split(separator: " ", maxSplits: 3).prefix(3)
            guard parts.count == 3, let slot = Int(parts[1]), (0..<RedisHashSlot.count).contains(slot),
                  let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...])
            else { return nil }
            var target = String(parts[2][..<colon])
            if target.hasPrefix("[") && target.hasSuffix("]") { target = String(target.dropFirst().dropLast()) }
            let address = RedisAddress.tcp(host: target.isEmpty ? host : target, port: port)
            self = prefix == "MOVED" ? .moved(slot: slot, to: address) : .ask(slot: slot, to: address)
        case "TRYAGAIN":
            self = .tryAgain
        case "CLUSTERDOWN", "MASTERDOWN", "LOADING":
            self = .retryLater
        default:
            return nil
        }
    }
}
