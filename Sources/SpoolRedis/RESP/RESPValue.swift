/// A RESP2 reply value.
///
/// Bulk strings are raw bytes (binary-safe); hiredis reports a nil bulk string and a nil
/// array alike, both as ``null``.
public enum RESPValue: Sendable, Hashable {
    /// A status reply such as `OK`.
    case simpleString(String)
    /// An error reply; its text starts with the error code (`ERR`, `NOPERM`, ...).
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string.
    case bulkString([UInt8])
    /// A nil bulk string or nil array.
    case null
    /// An array reply; elements may themselves be arrays.
    case array([RESPValue])
}

extension RESPValue {
    /// The value as text: simple and bulk strings (decoded as UTF-8) and integers.
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .integer(let value): return String(value)
        default: return nil
        }
    }

    /// The raw bytes of a bulk or simple string.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The value as an integer: integer replies and numeric strings.
    public var int: Int? {
        switch self {
        case .integer(let value): return Int(exactly: value)
        case .bulkString(let bytes): return Int(String(decoding: bytes, as: UTF8.self))
        case .simpleString(let text): return Int(text)
        default: return nil
        }
    }

    /// The elements of an array reply (`nil` for anything else, including ``null``).
    public var array: [RESPValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The error text, if this is an error reply.
    public var errorMessage: String? {
        if case .error(let text) = self { return text }
        return nil
    }
}

extension RESPValue: CustomStringConvertible {
    /// A short debugging rendering; bulk strings show as text when printable.
    public var description: String {
        switch self {
        case .simpleString(let text): return text
        case .error(let text): return "(error) \(text)"
        case .integer(let value): return "(integer) \(value)"
        case .bulkString(let bytes): return "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
