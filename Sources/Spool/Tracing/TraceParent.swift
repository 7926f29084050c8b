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
