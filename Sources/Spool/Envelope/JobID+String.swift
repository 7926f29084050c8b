extension JobID: CustomStringConvertible, LosslessStringConvertible {
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
        var index = 0
        for nibble in 0..<32 {
            if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            let word = nibble < 16 ? high : low
            let shift = UInt64(60 - 4 * (nibble % 16))
            buffer[index] = Self.hexDigit(UInt8(truncatingIfNeeded: word >> shift) & 0xF)
            index += 1
        }
        return index
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

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
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
