extension SpoolError {
    /// Renders untrusted bytes for an error message: printable ASCII as is, anything else as
    /// `\xNN`, quotes and backslashes escaped, cut after `limit` bytes with `…`.
    static func quoted(_ bytes: some Collection<UInt8>, limit: Int = 40) -> String {
        var text = "\""
        var shown = 0
        for byte in bytes {
            if shown == limit {
                text += "…"
                break
            }
            shown += 1
            switch byte {
            case UInt8(ascii: "\""):
                text += "\\\""
            case UInt8(ascii: "\\"):
                text += "\\\\"
            case 0x20...0x7E:
                text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                text += "\\x" + hexByte(byte)
            }
        }
        return text + "\""
    }

    /// Renders a string for an error message like ``quoted(_:limit:)`` does for bytes.
    static func quoted(_ string: String, limit: Int = 40) -> String {
        quoted(string.utf8, limit: limit)
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }
}
