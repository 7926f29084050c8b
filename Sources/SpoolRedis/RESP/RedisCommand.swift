/// One Redis command: its arguments, stored flat in a single byte buffer already in RESP form.
///
/// Arguments are binary-safe. Build with the variadic initialiser for text arguments and
/// ``append(_:)-(some Collection<UInt8>)`` for bytes; the whole command is one allocation,
/// and sending it copies its bytes once, behind a `*N` header.
///
/// Two commands are equal when they send the same bytes: the script kept beside an EVALSHA
/// (named by its SHA among those bytes) and ``allowsResendAfterLostReply`` (how a cluster
/// client sends it, not what it sends) take no part in `==` and `hash(into:)`.
public struct RedisCommand: Sendable, Hashable {
    /// Every argument as a RESP bulk string (`$len\r\n`, the bytes, `\r\n`), back to back.
    package private(set) var storage: [UInt8]
    /// How many arguments the command has, its name included.
    public private(set) var count: Int
    /// The script behind an EVALSHA, so a NOSCRIPT reply can load it and retry.
    package private(set) var script: RedisScript?
    /// Whether a cluster client may send the command again after its connection closed while
    /// the command was in flight: its reply is lost, and it may have run. Defaults to `true`,
    /// so on a cluster a command runs at least once (docs/cluster.md).
    ///
    /// Set it to `false` for a command that must not run twice unseen, such as a script that
    /// moves stream entries to the caller's pending list and returns them: run again, it would
    /// move others and answer for those alone. The cluster client then rereads the slot map
    /// and throws the error (`connectionClosed`), as a single-server client does, and the
    /// caller finds out what the first run did. A command that was never sent (a refused
    /// connection, `connectionFailed`), or was sent back with MOVED, ASK or TRYAGAIN, is still
    /// sent again.
    public var allowsResendAfterLostReply = true

    public static func == (lhs: RedisCommand, rhs: RedisCommand) -> Bool {
        lhs.count == rhs.count && lhs.storage == rhs.storage
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(storage)
    }

    /// Creates a command from text arguments, e.g. `RedisCommand("SET", key, value)`.
    public init(_ name: String, _ arguments: String...) {
        self.init(name, arguments)
    }

    /// Creates a command from a name and a list of text arguments.
    public init(_ name: String, _ arguments: [String]) {
        storage = []
        count = 0
        storage.reserveCapacity(name.utf8.count + arguments.reduce(0) { $0 + $1.utf8.count } + 16 * (arguments.count + 1))
        append(name)
        for argument in arguments { append(argument) }
    }

    /// Creates a command with room for `capacity` bytes in `arguments` arguments.
    public init(name: String, reservingBytes capacity: Int, arguments: Int) {
        storage = []
        count = 0
        storage.reserveCapacity(name.utf8.count + capacity + 16 * (arguments + 1))
        append(name)
    }

    /// Appends a text argument.
    public mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { append($0) }
    }

    /// Appends a binary argument.
    public mutating func append(_ argument: [UInt8]) {
        argument.withUnsafeBufferPointer { append($0) }
    }

    /// Appends a binary argument.
    public mutating func append(_ argument: UnsafeBufferPointer<UInt8>) {
        if argument.count <= Self.fusedArgumentLimit {
            // header, bytes and `\r\n` in one append: most arguments are short
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.fusedArgumentLimit + 24) { scratch in
                let start = Self.writeHeader(length: argument.count, endingAt: 22, in: scratch)
                var end = 22
                if let source = argument.baseAddress {
                    (scratch.baseAddress! + end).update(from: source, count: argument.count)
                    end += argument.count
                }
                scratch[end] = 13
                scratch[end + 1] = 10
                storage.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[start..<(end + 2)]))
                count += 1
            }
            return
        }
        beginArgument(length: argument.count)
        storage.append(contentsOf: argument)
        endArgument()
    }

    /// Arguments up to this many bytes are appended in one piece with their header.
    private static let fusedArgumentLimit = 64

    /// Appends a binary argument.
    public mutating func append(_ argument: some Collection<UInt8>) {
        beginArgument(length: argument.count)
        storage.append(contentsOf: argument)
        endArgument()
    }

    /// Appends an integer argument in decimal.
    public mutating func append(_ argument: Int) {
        append(Int64(argument))
    }

    /// Appends an integer argument in decimal.
    public mutating func append(_ argument: Int64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { scratch in
            // at most 19 digits and a sign, written backwards
            var start = DecimalText.write(argument.magnitude, endingAt: 20, in: scratch)
            if argument < 0 {
                start -= 1
                scratch[start] = UInt8(ascii: "-")
            }
            append(UnsafeBufferPointer(rebasing: scratch[start..<20]))
        }
    }

    /// Appends an argument's header, `$len\r\n`, in one append.
    private mutating func beginArgument(length: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { header in
            let start = Self.writeHeader(length: length, endingAt: 24, in: header)
            storage.append(contentsOf: UnsafeBufferPointer(rebasing: header[start..<24]))
        }
    }

    /// Writes `$len\r\n` so that it ends just before `end` (at most 23 bytes); returns its start.
    /// (The array header `*N\r\n` is the same with its first byte replaced.)
    private static func writeHeader(length: Int, endingAt end: Int, in buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        buffer[end - 2] = 13
        buffer[end - 1] = 10
        var start = DecimalText.write(UInt64(length), endingAt: end - 2, in: buffer)
        start -= 1
        buffer[start] = UInt8(ascii: "$")
        return start
    }

    private mutating func endArgument() {
        count += 1
        storage.append(13)
        storage.append(10)
    }

    /// The name of the command (its first argument), upper-cased.
    public var name: String {
        guard count > 0 else { return "" }
        return String(decoding: argument(0), as: UTF8.self).uppercased()
    }

    /// The bytes of argument `index` (found by walking the headers before it: arguments are
    /// read back only to route a command, at the front of short commands).
    public func argument(_ index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "argument \(index) of a command with \(count)")
        var position = 0
        var argument = 0
        while true {
            // `$len\r\n`, then len bytes, then `\r\n`
            var length = 0
            position += 1
            while storage[position] != 13 {
                length = length * 10 + Int(storage[position] &- UInt8(ascii: "0"))
                position += 1
            }
            let start = position + 2
            if argument == index { return storage[start..<(start + length)] }
            position = start + length + 2
            argument += 1
        }
    }

    /// Why the client refuses to send this command, or `nil` for a command it sends.
    ///
    /// Replies are matched to commands in order, one each, on connections that many callers
    /// share: a command that answers with more or fewer replies (`SUBSCRIBE` and the other
    /// pub/sub commands, `MONITOR`, `CLIENT REPLY OFF|SKIP`) would hand every later reply to
    /// the wrong caller, and `RESET` would undo the connection's AUTH, SELECT and CLIENT SETNAME.
    /// `SELECT`, `AUTH` and `HELLO … AUTH` would move the commands of every caller of the
    /// connection to another database or user: on a shared connection at once, on a dedicated
    /// one after it goes back to the client's idle pool, and a reconnect would quietly move
    /// them back. `HELLO` with a version other than 2 would switch to RESP3, which hiredis
    /// 0.14 cannot read.
    package var unsupportedReason: String? {
        guard count > 0 else { return nil }
        let name = argument(0)
        // most commands differ in length from every refused one: one comparison, no allocation
        switch name.count {
        case 4:
            // XADD, XACK, ZADD... of every job: only AUTH is refused, so look at the first letter first
            guard name[name.startIndex] & 0xDF == UInt8(ascii: "A"), Self.matches(name, "AUTH") else { return nil }
            return connectionStateReason(name: name)
        case 5, 6, 7, 9, 10, 11, 12: break
        default: return nil
        }
        if let reason = connectionStateReason(name: name) { return reason }
        for refused in Self.multiReplyCommands where Self.matches(name, refused) {
            return "\(refused) is not supported: Spool's client expects one reply per command"
        }
        if Self.matches(name, "RESET") {
            return "RESET is not supported: it would undo the connection's AUTH, SELECT and CLIENT SETNAME"
        }
        if Self.matches(name, "CLIENT"), count >= 3, Self.matches(argument(1), "REPLY") {
            let mode = argument(2)
            if Self.matches(mode, "OFF") || Self.matches(mode, "SKIP") {
                return "CLIENT REPLY \(String(decoding: mode, as: UTF8.self).uppercased()) is not supported: "
                    + "Spool's client expects one reply per command"
            }
        }
        return nil
    }

    /// Why a cluster client refuses to send this command, or `nil`: besides
    /// ``unsupportedReason``, the transaction commands. A cluster client routes each command
    /// on its own (a keyless `MULTI` to any master, each command after it to its key's
    /// master), so the commands of a transaction could run on different masters, outside it.
    package var clusterUnsupportedReason: String? {
        guard count > 0 else { return nil }
        let name = argument(0)
        switch name.count {
        case 4, 5, 7: break
        default: return nil
        }
        for refused in Self.transactionCommands where Self.matches(name, refused) {
            return "\(refused) is not supported on a Redis Cluster: the client routes each command on its own, so a "
                + "transaction's commands could run on different masters; use a Lua script on keys of one hash slot, or "
                + "withDedicatedConnection(forKey:)"
        }
        return nil
    }

    private static let transactionCommands: [StaticString] = ["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"]

    /// Why the client refuses a command that changes what its connections are: their database,
    /// their user, their protocol (see ``unsupportedReason``); `name` is the command's name.
    private func connectionStateReason(name: ArraySlice<UInt8>) -> String? {
        if Self.matches(name, "SELECT") {
            return "SELECT is not supported: every connection of a client (a dedicated one too: it goes back to the client's "
                + "pool after its lease) stays on the URL's database; give it in the URL (redis://host:port/N), or make "
                + "another RedisClient for another database"
        }
        let isHello = Self.matches(name, "HELLO")
        if Self.matches(name, "AUTH") || (isHello && (1..<count).contains { Self.matches(argument($0), "AUTH") }) {
            return "\(isHello ? "HELLO with AUTH" : "AUTH") is not supported: every connection of a client (a dedicated one "
                + "too: it goes back to the client's pool after its lease) runs as the URL's user; give the user and "
                + "password in the URL (or $SPOOL_REDIS_PASSWORD), or make another RedisClient for another user"
        }
        if isHello, count >= 2, !argument(1).elementsEqual("2".utf8), !Self.isOption(argument(1)) {
            return "HELLO \(String(decoding: argument(1), as: UTF8.self)) is not supported: Spool's client reads RESP2 only "
                + "(hiredis 0.14 has no RESP3)"
        }
        return nil
    }

    /// Whether a `HELLO` argument is one of its options rather than a protocol version.
    private static func isOption(_ bytes: ArraySlice<UInt8>) -> Bool {
        matches(bytes, "AUTH") || matches(bytes, "SETNAME")
    }

    /// Why `commands`, sent together on a connection that other callers share, would break it
    /// for them, or `nil`. Callers' commands go out one after another on that connection, so a
    /// transaction must open and close within one call: a `MULTI` left open would queue the
    /// next callers' commands into it (they would get `QUEUED` for replies, and the commands
    /// would run at someone else's `EXEC`), and a `WATCH` left standing could make another
    /// caller's `EXEC` fail. `MULTI … EXEC` (or `DISCARD`) in one ``RedisClient/pipeline(_:)``
    /// is written as one piece, and `WATCH` followed by its `EXEC` too; anything else goes on
    /// a dedicated connection.
    package static func sharedConnectionReason(_ commands: some Sequence<RedisCommand>) -> String? {
        var open: StaticString?    // the MULTI or WATCH not closed yet
        for command in commands where command.count > 0 {
            let name = command.argument(0)
            switch name.count {
            case 4, 5, 7: break
            default: continue
            }
            guard let which = transactionCommands.first(where: { matches(name, $0) }) else { continue }
            switch which.description {
            case "MULTI": open = "MULTI"
            case "WATCH": if open == nil { open = "WATCH" }
            case "UNWATCH": if open?.description == "WATCH" { open = nil }
            default: // EXEC, DISCARD: they end a MULTI (and the WATCH before it), nothing else
                guard open?.description == "MULTI" else {
                    return "\(which) without its MULTI before it in the same call would run on a connection other callers share: "
                        + "send MULTI … \(which) together with pipeline(_:), or use withDedicatedConnection"
                }
                open = nil
            }
        }
        guard let open else { return nil }
        return "\(open) without its EXEC after it in the same call would leave a connection other callers share "
            + (open.description == "MULTI" ? "in a transaction, queuing their commands into it" : "watching keys, failing their transactions")
            + ": send \(open) … EXEC together with pipeline(_:), or use withDedicatedConnection"
    }

    private static let multiReplyCommands: [StaticString] = [
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",
    ]

    /// Whether `bytes` spell `upper` (upper-case ASCII letters) in any case.
    private static func matches(_ bytes: ArraySlice<UInt8>, _ upper: StaticString) -> Bool {
        guard bytes.count == upper.utf8CodeUnitCount else { return false }
        return upper.withUTF8Buffer { expected in
            // clearing bit 5 upper-cases an ASCII letter; no other byte becomes one
            zip(bytes, expected).allSatisfy { $0 & 0xDF == $1 }
        }
    }

    /// `EVALSHA sha numkeys keys... args...` for a script; reloaded transparently on NOSCRIPT.
    public static func evalSHA(_ script: RedisScript, keys: [String], arguments: [String]) -> RedisCommand {
        var command = RedisCommand(
            name: "EVALSHA",
            reservingBytes: 48 + keys.reduce(0) { $0 + $1.utf8.count } + arguments.reduce(0) { $0 + $1.utf8.count },
            arguments: 2 + keys.count + arguments.count
        )
        command.append(script.sha1)
        command.append(keys.count)
        for key in keys { command.append(key) }
        for argument in arguments { command.append(argument) }
        command.script = script
        return command
    }

    /// Marks an EVALSHA command built by hand as running `script`, for NOSCRIPT recovery.
    public mutating func attach(_ script: RedisScript) {
        self.script = script
    }

    /// Appends the command in RESP form (`*N`, then `$len` and bytes per argument) to `buffer`.
    ///
    /// This is what hiredis's `redisFormatCommandArgv` produces: the arguments are stored in
    /// that form as they are appended, so this writes the `*N` header and copies them.
    package func encodeRESP(into buffer: inout [UInt8]) {
        // no reserveCapacity: it would grow `buffer` exactly, command after command
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { header in
            let start = Self.writeHeader(length: count, endingAt: 24, in: header)
            header[start] = UInt8(ascii: "*")
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: header[start..<24]))
        }
        buffer.append(contentsOf: storage)
    }
}

/// Decimal numbers written without a `String`: digits go backwards into scratch space, which
/// the caller then appends in one piece.
package enum DecimalText {
    /// Writes the digits of `value` so that they end just before `end` (at most 20 of them);
    /// returns where they start.
    @inline(__always)
    package static func write(_ value: UInt64, endingAt end: Int, in buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var start = end
        var remaining = value
        repeat {
            start -= 1
            buffer[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
        } while remaining > 0
        return start
    }
}
