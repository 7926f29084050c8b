extension RedisCommand {
    /// Commands without a key: in a cluster any node can run them.
    private static let keyless: Set<String> = [
        "ACL", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DBSIZE",
        "DEBUG", "ECHO", "FLUSHALL", "FLUSHDB", "FUNCTION", "HELLO", "INFO", "KEYS", "LASTSAVE", "LATENCY",
        "MEMORY", "MONITOR", "PING", "PUBLISH", "QUIT", "RANDOMKEY", "READONLY", "READWRITE", "ROLE", "SAVE",
        "SCAN", "SCRIPT", "SELECT", "SLOWLOG", "SWAPDB", "TIME", "WAIT",
    ]

    /// The index of the argument whose hash slot decides where the command goes in a
    /// cluster, or `nil` for a command without keys.
    ///
    /// The first key: after `numkeys` for EVAL/EVALSHA/FCALL, after the `STREAMS` keyword
    /// (not a group or consumer of that name) for XREAD/XREADGROUP, after the subcommand for XINFO/XGROUP/OBJECT/MEMORY USAGE, else the
    /// first argument. Multi-key commands must keep all their keys in one slot (Spool's
    /// `{queue}` hash tag does); Redis refuses them with CROSSSLOT otherwise.
    package var routingKeyIndex: Int? {
        let name = self.name
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard count > 3, let keys = Int(String(decoding: argument(2), as: UTF8.self)), keys > 0 else { return nil }
            return 3
        case "XREAD", "XREADGROUP":
            return streamsKeyIndex
        case "XINFO", "XGROUP", "OBJECT":
            return count > 2 && !isHelp ? 2 : nil
        case "MEMORY":
            return count > 2 && String(decoding: argument(1), as: UTF8.self).uppercased() == "USAGE" ? 2 : nil
        default:
            if Self.keyless.contains(name) || count < 2 { return nil }
            return 1
        }
    }

    /// The hash slot the command must be sent to, or `nil` when any node will do.
    package var hashSlot: Int? {
        routingKeyIndex.map { RedisHashSlot.of(bytes: argument($0)) }
    }

    /// The first key of XREAD/XREADGROUP: the argument after `STREAMS`, found by stepping over
    /// the options before it with their arguments (`GROUP group consumer`, `COUNT n`,
    /// `BLOCK ms`, `NOACK`), so a group or consumer named `streams` is not taken for the
    /// keyword. `nil` for an option Redis does not know or no key after `STREAMS` (Redis
    /// refuses such a command anyway).
    private var streamsKeyIndex: Int? {
        var index = 1
        while index < count {
            switch String(decoding: argument(index), as: UTF8.self).uppercased() {
            case "STREAMS": return index + 1 < count ? index + 1 : nil
            case "GROUP": index += 3
            case "COUNT", "BLOCK": index += 2
            case "NOACK": index += 1
            default: return nil
            }
        }
        return nil
    }

    private var isHelp: Bool {
        String(decoding: argument(1), as: UTF8.self).uppercased() == "HELP"
    }
}
