import SpoolRedis

/// A stream entry id, `ms-seq`, ordered.
///
/// The worker keeps entry ids in this form, not as text: parsing one from a reply makes no
/// `String`, and hashing or comparing one (the running jobs, their deadlines) is two integers.
struct StreamID: Hashable, Comparable, Sendable, CustomStringConvertible {
    let milliseconds: UInt64
    let sequence: UInt64

    init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `ms-seq`, or `ms` alone (sequence 0); `nil` for anything else.
    init?(_ text: String) {
        var text = text
        guard let id = text.withUTF8({ StreamID(utf8: $0) }) else { return nil }
        self = id
    }

    /// Parses `ms-seq`, or `ms` alone (sequence 0), from UTF-8 bytes; `nil` for anything else.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        var index = 0
        func number() -> UInt64? {
            let start = index
            var value: UInt64 = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (times10, over1) = value.multipliedReportingOverflow(by: 10)
                let (sum, over2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                if over1 || over2 { return nil }
                value = sum
                index += 1
            }
            return index > start ? value : nil
        }
        guard let ms = number() else { return nil }
        var seq: UInt64 = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: "-") else { return nil }
            index += 1
            guard let parsed = number() else { return nil }
            seq = parsed
        }
        guard index == bytes.count else { return nil }
        milliseconds = ms
        sequence = seq
    }

    /// Parses the id in a reply value (a bulk or simple string).
    init?(_ value: RESPValue) {
        switch value {
        case .bulkString(let bytes):
            guard let id = bytes.withUnsafeBufferPointer({ StreamID(utf8: $0) }) else { return nil }
            self = id
        case .simpleString(let text):
            guard let id = StreamID(text) else { return nil }
            self = id
        default:
            return nil
        }
    }

    /// The smallest id after this one; the largest id itself (nothing comes after it).
    var next: StreamID {
        if sequence < .max { return StreamID(milliseconds: milliseconds, sequence: sequence + 1) }
        if milliseconds < .max { return StreamID(milliseconds: milliseconds + 1, sequence: 0) }
        return self
    }

    /// The time part in Unix milliseconds, at most `Int64.max`: Redis accepts ids up to 2^64 − 1
    /// from any client that gives one to `XADD`.
    var unixMilliseconds: Int64 { Int64(clamping: milliseconds) }

    var description: String { "\(milliseconds)-\(sequence)" }

    static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}

extension RedisCommand {
    /// Appends a stream entry id as one argument, `ms-seq`, without making a `String`.
    mutating func append(_ id: StreamID) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 41) { scratch in
            // two numbers of at most 20 digits and the dash, written backwards
            var start = DecimalText.write(id.sequence, endingAt: 41, in: scratch) - 1
            scratch[start] = UInt8(ascii: "-")
            start = DecimalText.write(id.milliseconds, endingAt: start, in: scratch)
            append(UnsafeBufferPointer(rebasing: scratch[start..<41]))
        }
    }
}
