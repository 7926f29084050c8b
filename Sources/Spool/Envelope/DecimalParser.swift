/// Defensive decimal parsing for envelope fields: no traps, no locale, no whitespace.
enum DecimalParser {
    /// Parses an optional `-` followed by 1–19 ASCII digits; `nil` for anything else or on overflow.
    static func int64(_ bytes: some Collection<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var negative = false
        var sawDigit = false
        var value: Int64 = 0
        for (offset, byte) in bytes.enumerated() {
            if offset == 0 && byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative
                ? shifted.subtractingReportingOverflow(digit)
                : shifted.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return nil }
            value = next
            sawDigit = true
        }
        return sawDigit ? value : nil
    }

    /// Like ``int64(_:)``, for `Int`.
    static func int(_ bytes: some Collection<UInt8>) -> Int? {
        int64(bytes).flatMap { Int(exactly: $0) }
    }
}
