extension JobID: CustomStringConvertible, LosslessStringConvertible {
    /// Whether `stored` (an envelope's `id` field) and `query` name the same job: the same
    /// text, or the same UUID in either case (Spool writes lowercase and reads either).
    static func sameID(_ stored: String?, _ query: String) -> Bool {
        guard let stored else { return false }
        if stored == query { return true }
        guard stored.utf8.count == 36, query.utf8.count == 36, let left = JobID(stored), let right = JobID(query) else { return false }
        return left == right
    }

    /// The canonical form: 36 characters, lowercase hex in groups of 8-4-4-4-12.
    public var description: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            render(into: buffer)
        }
    }

    /// Calls `body` with the canonical form as UTF-8 bytes, as written into a stream entry, in a
    /// temporary buffer (no array made).
    func withUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            let count = render(into: buffer)
            return try body(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Writes the 36-byte canonical form into `buffer` (which holds at least 36 bytes).
    private func render(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(buffer.count >= 36, "a JobID needs 36 bytes")
        let base = buffer.baseAddress!
        // 8-4-4-4-12: the groups' first nibbles, counting from the most significant
        Self.writeHex(high, from: 0, count: 8, to: base)
        base[8] = UInt8(ascii: "-")
        Self.writeHex(high, from: 8, count: 4, to: base + 9)
        base[13] = UInt8(ascii: "-")
        Self.writeHex(high, from: 12, count: 4, to: base + 14)
        base[18] = UInt8(ascii: "-")
        Self.writeHex(low, from: 0, count: 4, to: base + 19)
        base[23] = UInt8(ascii: "-")
        Self.writeHex(low, from: 4, count: 12, to: base + 24)
        return 36
    }

    /// Writes `count` lowercase hex digits of `word`, starting at nibble `from` (0 is the most
    /// significant), to `target`.
    @inline(__always)
    private static func writeHex(_ word: UInt64, from: Int, count: Int, to target: UnsafeMutablePointer<UInt8>) {
        for offset in 0..<count {
            let nibble = UInt8(truncatingIfNeeded: word &>> UInt64(60 &- 4 &* (from &+ offset))) & 0xF
            target[offset] = hexDigit(nibble)
        }
    }

    /// Parses the canonical 8-4-4-4-12 form, in either case; `nil` for anything else.
    ///
    /// Any UUID version is accepted, so ids made by other languages' libraries work; only
    /// UUIDv7 ids sort by time.
    public init?(_ string: String) {
        self.init(utf8: string.utf8)
    }

    /// Parses the canonical 8-4-4-4-12 form from UTF-8 bytes, in either case; `nil` otherwise.
    public init?(utf8 bytes: some Collection<UInt8>) {
        // contiguous bytes (an entry's field, a String's UTF-8) take the fast path
        if let parsed = bytes.withContiguousStorageIfAvailable({ Self.parse($0) }) {
            guard let parsed else { return nil }
            self = parsed
            return
        }
        guard bytes.count == 36 else { return nil }
        var words: (UInt64, UInt64) = (0, 0)
        var digits = 0
        for (offset, byte) in bytes.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let value = Self.hexValue(byte) else { return nil }
            if digits < 16 {
                words.0 = words.0 << 4 | UInt64(value)
            } else {
                words.1 = words.1 << 4 | UInt64(value)
            }
            digits += 1
        }
        self.init(high: words.0, low: words.1)
    }

    /// ``init(utf8:)`` over contiguous bytes: the four dashes checked at their places, each
    /// digit looked up in ``hexValues`` (0xFF for a byte that is not one), every bad byte
    /// caught by one test of the values or'ed together: `JobEnvelope.decode(fields:)` 395 →
    /// 373 ns against the byte-by-byte parse through the collection (docs/performance.md,
    /// "Stop 34").
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> JobID? {
        guard bytes.count == 36, let base = bytes.baseAddress,
              base[8] == UInt8(ascii: "-"), base[13] == UInt8(ascii: "-"),
              base[18] == UInt8(ascii: "-"), base[23] == UInt8(ascii: "-") else { return nil }
        return hexValues.withUnsafeBufferPointer { table -> JobID? in
            var bad: UInt8 = 0
            @inline(__always) func digits(_ start: Int, _ count: Int, into word: inout UInt64) {
                for offset in start..<(start + count) {
                    let value = table[Int(base[offset])]
                    bad |= value
                    word = word << 4 | UInt64(value & 0x0F)
                }
            }
            var high: UInt64 = 0
            var low: UInt64 = 0
            digits(0, 8, into: &high)
            digits(9, 4, into: &high)
            digits(14, 4, into: &high)
            digits(19, 4, into: &low)
            digits(24, 12, into: &low)
            // a digit's value is below 16; a non-digit's 0xFF sets the high bits
            guard bad & 0xF0 == 0 else { return nil }
            return JobID(high: high, low: low)
        }
    }

    /// Each byte's hex value, 0xFF for bytes that are not hex digits (either case).
    private static let hexValues: [UInt8] = (0...255).map { hexValue(UInt8($0)) ?? 0xFF }

    /// The lowercase hex digit of `value` (0–15), without a branch: digits above 9 move 39
    /// places further, from `:` to `a`.
    @inline(__always)
    private static func hexDigit(_ value: UInt8) -> UInt8 {
        let above9 = UInt8(truncatingIfNeeded: (Int8(9) &- Int8(truncatingIfNeeded: value)) &>> 7)
        return UInt8(ascii: "0") &+ value &+ (above9 & 39)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension JobID: Codable {
    /// Decodes an id from its canonical string, failing with a `DecodingError` otherwise.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let id = JobID(string) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "job id \(SpoolError.quoted(string)) is not a UUID (8-4-4-4-12 hex)"
            )
        }
        self = id
    }

    /// Encodes the id as its canonical string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
