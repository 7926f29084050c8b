/// The naming rule shared by queues, groups and key prefixes: 1–100 characters of
/// `[A-Za-z0-9._:-]`, so a name is safe inside a Redis key, a hash tag and a shell argument.
enum NameRule {
    /// The longest name allowed, in characters (all allowed characters are one byte).
    static let maxLength = 100
    /// The rule as shown to people in error messages.
    static let summary = "use 1-100 characters of A-Z a-z 0-9 . _ : -"

    /// Whether `byte` may appear in a name.
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Why `raw` breaks the rule (e.g. `contains " "`), or `nil` when it is a valid name.
    static func violation(in raw: String) -> String? {
        if raw.isEmpty {
            return "is empty"
        }
        if let bad = raw.first(where: { character in
            !(character.utf8.count == 1 && character.utf8.allSatisfy(isAllowed))
        }) {
            return "contains \(SpoolError.quoted(String(bad)))"
        }
        if raw.utf8.count > maxLength {
            return "is \(raw.utf8.count) characters long"
        }
        return nil
    }

    /// Throws `code` with a message naming the `kind` of name, the problem and the rule.
    static func validate(_ raw: String, kind: String, code: SpoolError.Code) throws(SpoolError) {
        if let problem = violation(in: raw) {
            throw SpoolError(
                code: code,
                message: "invalid \(kind) \(SpoolError.quoted(raw)) (\(problem)): \(summary)"
            )
        }
    }
}
