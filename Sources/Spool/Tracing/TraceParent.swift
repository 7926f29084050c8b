/// The W3C Trace Context `traceparent` rule (https://www.w3.org/TR/trace-context/#traceparent-header).
enum TraceParent {
    /// Whether `value` is a `traceparent` to pass on: `version-traceid-parentid-flags` in
    /// lowercase hex (2, 32, 16 and 2 digits), the version not `ff`, neither id all zeros.
    /// Version `00` is exactly those 55 characters; a later version may add fields after a
    /// `-` (the spec's rule for versions a reader does not know).
    static func isValid(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard bytes.count >= 55 else { return false }
            func hex(_ range: Range<Int>) -> Bool {
                bytes[range].allSatisfy { ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) }
            }
            func zeros(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == UInt8(ascii: "0") } }
            let dash = UInt8(ascii: "-")
            guard hex(0..<2), bytes[2] == dash, hex(3..<35), bytes[35] == dash, hex(36..<52), bytes[52] == dash, hex(53..<55) else {
                return false
            }
            if bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f") { return false }
            if zeros(3..<35) || zeros(36..<52) { return false }
            if zeros(0..<2) { return bytes.count == 55 }
            return bytes.count == 55 || bytes[55] == dash
        }
    }
}

extension JobEnvelope {
    /// Whether `value` is a valid W3C Trace Context `traceparent`: `00-<32 hex trace id>-<16
    /// hex parent id>-<2 hex flags>` in lowercase, neither id all zeros, the version not `ff`
    /// (a later version may add fields after a `-`). A push refuses a job with any other
    /// (code `invalidArgument`), and a worker treats a stored invalid one as absent.
    public static func isValidTraceparent(_ value: String) -> Bool {
        TraceParent.isValid(value)
    }
}

/// The W3C Trace Context `tracestate` rule (https://www.w3.org/TR/trace-context-2/#tracestate-header),
/// with Level 2's keys, which take in Level 1's (`tenant@system` among them).
enum TraceState {
    /// The most list members a `tracestate` may have.
    static let maxMembers = 32

    /// Whether `value` is a `tracestate` to pass on: 1 to 32 `key=value` members separated by
    /// `,` (spaces and tabs around them allowed, empty members ignored), keys unique. A key is
    /// 1 to 256 lowercase letters, digits and `_-*/@`, starting with a letter or a digit; a
    /// value is 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a
    /// space. A list without members passes nothing on, so it is not one to pass on either.
    static func isValid(_ value: String) -> Bool {
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        var keys: [ArraySlice<UInt8>] = []
        for var member in Array(value.utf8).split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            while let first = member.first, blank(first) { member = member.dropFirst() }
            while let last = member.last, blank(last) { member = member.dropLast() }
            if member.isEmpty { continue }
            guard let equals = member.firstIndex(of: UInt8(ascii: "=")) else { return false }
            let key = member[..<equals]
            guard isValidKey(key), isValidValue(member[(equals + 1)...]), !keys.contains(key) else { return false }
            keys.append(key)
            if keys.count > maxMembers { return false }
        }
        return !keys.isEmpty
    }

    private static func isValidKey(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, bytes.count <= 256 else { return false }
        let lowercase = { (byte: UInt8) in byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
        let digit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        guard lowercase(first) || digit(first) else { return false }
        return bytes.allSatisfy { byte in
            lowercase(byte) || digit(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "*")
                || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "@")
        }
    }

    private static func isValidValue(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let last = bytes.last, bytes.count <= 256, last != UInt8(ascii: " ") else { return false }
        return bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") }
    }
}

extension JobEnvelope {
    /// Whether `value` is a valid W3C Trace Context `tracestate`: 1 to 32 `key=value` members
    /// separated by `,`, keys unique, in the spec's characters (Level 2's keys). A push refuses
    /// a job with any other (code `invalidArgument`), and a worker treats a stored invalid one
    /// as absent.
    public static func isValidTracestate(_ value: String) -> Bool {
        TraceState.isValid(value)
    }
}
