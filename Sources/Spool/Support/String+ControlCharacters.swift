extension String {
    /// Whether the string holds a control character (C0, DEL or C1: Unicode's `Cc`), read from
    /// its UTF-8 bytes. Every pushed job's type goes through this: a lookup of each scalar's
    /// Unicode properties cost a batch push a tenth of its rate (docs/performance.md, "Stop 31").
    var containsControlCharacters: Bool {
        var text = self
        return text.withUTF8 { bytes in
            // C1 controls, U+0080 to U+009F, are 0xC2 0x80 to 0xC2 0x9F
            var previous: UInt8 = 0
            for byte in bytes {
                if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && byte < 0xA0) { return true }
                previous = byte
            }
            return false
        }
    }
}
