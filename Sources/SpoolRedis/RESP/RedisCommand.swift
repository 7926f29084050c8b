/// One Redis command: its arguments, stored flat in a single byte buffer.
///
/// Arguments are binary-safe. Build with the variadic initialiser for text arguments and
/// ``append(_:)-(some Collection<UInt8>)`` for bytes; the whole command is two allocations.
public struct RedisCommand: Sendable, Hashable {
    /// All argument bytes, back to back.
    package private(set) var storage: [UInt8]
    /// The end offset of each argument in ``storage``.
    package private(set) var ends: [Int]
    /// The script behind an EVALSHA, so a NOSCRIPT reply can load it and retry.
    package private(set) var script: RedisScript?

    /// Creates a command from text arguments, e.g. `RedisCommand("SET", key, value)`.
    public init(_ name: String, _ arguments: String...) {
        self.init(name, arguments)
    }

    /// Creates a command from a name and a list of text arguments.
    public init(_ name: String, _ arguments: [String]) {
        storage = []
        ends = []
        storage.reserveCapacity(name.utf8.count + arguments.reduce(0) { $0 + $1.utf8.count })
        ends.reserveCapacity(arguments.count + 1)
        append(name)
        for argument in arguments { append(argument) }
    }

    /// Creates a command with room for `capacity` bytes in `arguments` arguments.
    public init(name: String, reservingBytes capacity: Int, arguments: Int) {
        storage = []
        ends = []
        storage.reserveCapacity(name.utf8.count + capacity)
        ends.reserveCapacity(arguments + 1)
        append(name)
    }

    /// Appends a text argument.
    public mutating func append(_ argument: String) {
        storage.append(contentsOf: argument.utf8)
        ends.append(storage.count)
    }

    /// Appends a binary argument.
    public mutating func append(_ argument: some Collection<UInt8>) {
        storage.append(contentsOf: argument)
        ends.append(storage.count)
    }

    /// Appends an integer argument in decimal.
    public mutating func append(_ argument: Int) {
        append(String(argument))
    }

    /// Appends an integer argument in decimal.
    public mutating func append(_ argument: Int64) {
        append(String(argument))
    }

    /// How many arguments the command has, its name included.
    public var count: Int { ends.count }

    /// The name of the command (its first argument), upper-cased.
    public var name: String {
        guard let end = ends.first else { return "" }
        return String(decoding: storage[0..<end], as: UTF8.self).uppercased()
    }

    /// The bytes of argument `index`.
    public func argument(_ index: Int) -> ArraySlice<UInt8> {
        let start = index == 0 ? 0 : ends[index - 1]
        return storage[start..<ends[index]]
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
    /// This is what hiredis's `redisFormatCommandArgv` produces, written without its
    /// per-argument `printf`-style formatting and allocations.
    package func encodeRESP(into buffer: inout [UInt8]) {
        buffer.reserveCapacity(buffer.count + storage.count + 16 * ends.count + 16)
        buffer.append(UInt8(ascii: "*"))
        Self.appendDecimal(ends.count, to: &buffer)
        buffer.append(13)
        buffer.append(10)
        var start = 0
        storage.withUnsafeBufferPointer { bytes in
            for end in ends {
                buffer.append(UInt8(ascii: "$"))
                Self.appendDecimal(end - start, to: &buffer)
                buffer.append(13)
                buffer.append(10)
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                buffer.append(13)
                buffer.append(10)
                start = end
            }
        }
    }

    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        if value < 10 {
            buffer.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var remaining = value
        withUnsafeMutableBytes(of: &digits) { raw in
            while remaining > 0 {
                raw[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining % 10)
                remaining /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(raw[index]) }
        }
    }
}
