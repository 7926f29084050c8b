/// A name checked against Spool's rule (1–100 characters of `[A-Za-z0-9._:-]`), stored as
/// written; encoded and decoded as a plain string, ordered by that string.
public protocol ValidatedName: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The name as written.
    var rawValue: String { get }
    /// Validates `raw`.
    init(_ raw: String) throws(SpoolError)
}

extension ValidatedName {
    /// Decodes a name from a string, failing with a `DecodingError` when it breaks the rule.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do {
            try self.init(raw)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes the name as a string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The name as written.
    public var description: String { rawValue }

    /// Orders names by their raw strings.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// A validated queue name: 1–100 characters of `[A-Za-z0-9._:-]`, e.g. `order.placed`.
public struct QueueName: ValidatedName {
    /// The name as written, e.g. `order.placed`.
    public let rawValue: String

    /// Validates `raw` as a queue name.
    /// - Throws: ``SpoolError/Code/invalidQueueName`` saying what is wrong and the rule.
    public init(_ raw: String) throws(SpoolError) {
        try NameRule.validate(raw, kind: "queue name", code: .invalidQueueName)
        self.rawValue = raw
    }
}

/// A validated consumer-group name (one subscriber of a queue): same rule as ``QueueName``.
public struct GroupName: ValidatedName {
    /// The name as written, e.g. `default` or `billing`.
    public let rawValue: String

    /// The group of a plain work queue: `default`.
    public static let `default` = GroupName(unchecked: "default")

    /// Validates `raw` as a group name.
    /// - Throws: ``SpoolError/Code/invalidGroupName`` saying what is wrong and the rule.
    public init(_ raw: String) throws(SpoolError) {
        try NameRule.validate(raw, kind: "group name", code: .invalidGroupName)
        self.rawValue = raw
    }

    private init(unchecked raw: String) {
        self.rawValue = raw
    }
}
