/// The field names of a version-1 envelope on the wire.
enum EnvelopeField: CaseIterable, Sendable {
    case version
    case id
    case type
    case payload
    case enqueuedAt
    case attempt
    case maxAttempts
    case key
    case traceparent
    case tracestate

    /// The prefix of header fields: `h:<name>`.
    static let headerPrefix: [UInt8] = Array("h:".utf8)

    /// The name as written in the stream entry.
    var name: String {
        switch self {
        case .version: "v"
        case .id: "id"
        case .type: "type"
        case .payload: "payload"
        case .enqueuedAt: "enqueued_at"
        case .attempt: "attempt"
        case .maxAttempts: "max_attempts"
        case .key: "key"
        case .traceparent: "traceparent"
        case .tracestate: "tracestate"
        }
    }

    /// The name as bytes, ready for XADD.
    var nameBytes: [UInt8] { Array(name.utf8) }

    /// The known field named `bytes`, or `nil` for a header or unknown field.
    init?(name bytes: some Collection<UInt8>) {
        // Dispatch on the length first, then compare the bytes.
        switch bytes.count {
        case 1 where bytes.elementsEqual("v".utf8): self = .version
        case 2 where bytes.elementsEqual("id".utf8): self = .id
        case 3 where bytes.elementsEqual("key".utf8): self = .key
        case 4 where bytes.elementsEqual("type".utf8): self = .type
        case 7 where bytes.elementsEqual("payload".utf8): self = .payload
        case 7 where bytes.elementsEqual("attempt".utf8): self = .attempt
        case 10 where bytes.elementsEqual("tracestate".utf8): self = .tracestate
        case 11 where bytes.elementsEqual("enqueued_at".utf8): self = .enqueuedAt
        case 11 where bytes.elementsEqual("traceparent".utf8): self = .traceparent
        case 12 where bytes.elementsEqual("max_attempts".utf8): self = .maxAttempts
        default: return nil
        }
    }
}
