/// Reads the members of the schedule ZSETs (`sched:G`, `delayed`): a MessagePack array of
/// strings, `[name, value, ...]`, as Lua's `cmsgpack.pack(fields)` writes it.
enum MessagePackFields {
    /// The flat field list, or `nil` when the bytes are not an array of strings.
    static func decode(_ bytes: [UInt8]) -> [[UInt8]]? {
        var reader = Reader(bytes: bytes)
        guard let count = reader.arrayHeader() else { return nil }
        var fields: [[UInt8]] = []
        // the count is read from the data (another client may have written anything, up to
        // 2^32 - 1): every string takes at least one byte, so no more fit than bytes remain
        fields.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            guard let string = reader.string() else { return nil }
            fields.append(string)
        }
        return fields
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        /// Bytes not read yet.
        var remaining: Int { bytes.count - index }

        mutating func byte() -> UInt8? {
            guard index < bytes.count else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        mutating func unsigned(_ width: Int) -> Int? {
            var value = 0
            for _ in 0..<width {
                guard let next = byte() else { return nil }
                value = value << 8 | Int(next)
            }
            return value
        }

        mutating func arrayHeader() -> Int? {
            guard let tag = byte() else { return nil }
            switch tag {
            case 0x90...0x9F: return Int(tag & 0x0F)
            case 0xDC: return unsigned(2)
            case 0xDD: return unsigned(4)
            default: return nil
            }
        }

        mutating func string() -> [UInt8]? {
            guard let tag = byte() else { return nil }
            let length: Int?
            switch tag {
            case 0xA0...0xBF: length = Int(tag & 0x1F)
            case 0xD9, 0xC4: length = unsigned(1)
            case 0xDA, 0xC5: length = unsigned(2)
            case 0xDB, 0xC6: length = unsigned(4)
            default: return nil
            }
            guard let length, length <= bytes.count - index else { return nil }
            defer { index += length }
            return Array(bytes[index..<index + length])
        }
    }
}
