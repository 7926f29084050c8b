import Testing

@testable import Spool

@Suite struct JobEnvelopeDecodingTests {
    static let id = "0190ff3c-5e4a-7b21-9c3d-4e5f60718293"

    /// A valid entry as text pairs, with `changes` applied (a `nil` value removes the field).
    static func entry(_ changes: [(String, String?)] = []) -> [[UInt8]] {
        var pairs: [(String, String)] = [
            ("v", "1"), ("id", id), ("type", "send_email"), ("payload", "{}"),
            ("enqueued_at", "1732650000000"), ("attempt", "1"),
        ]
        for (name, value) in changes {
            if let index = pairs.firstIndex(where: { $0.0 == name }) {
                if let value { pairs[index].1 = value } else { pairs.remove(at: index) }
            } else if let value {
                pairs.append((name, value))
            }
        }
        return pairs.flatMap { [Array($0.0.utf8), Array($0.1.utf8)] }
    }

    static func expectMalformed(_ fields: [[UInt8]], _ message: String) {
        #expect {
            _ = try JobEnvelope.decode(fields: fields)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .malformedEnvelope && error?.message == message
        }
    }

    @Test func decodesAPlainClientsEntry() throws {
        let envelope = try JobEnvelope.decode(fields: Self.entry())
        #expect(envelope.version == 1)
        #expect(envelope.id.description == Self.id)
        #expect(envelope.type == "send_email")
        #expect(envelope.payload == Array("{}".utf8))
        #expect(envelope.enqueuedAt == 1_732_650_000_000)
        #expect(envelope.attempt == 1)
        #expect(envelope.maxAttempts == nil && envelope.key == nil && envelope.traceparent == nil)
        #expect(envelope.headers.isEmpty && envelope.extraFields.isEmpty)
    }

    @Test func optionalMetadataHasDefaults() throws {
        let envelope = try JobEnvelope.decode(
            fields: Self.entry([("enqueued_at", nil), ("attempt", nil)])
        )
        #expect(envelope.attempt == 1)
        #expect(envelope.enqueuedAt == envelope.id.timestamp)
    }

    @Test func keepsUnknownFieldsInOrderAndReadsHeaders() throws {
        var fields = Self.entry([("h:tenant", "acme")])
        fields.insert(contentsOf: [Array("zeta".utf8), [0xFF, 0x00]], at: 2)
        fields += [Array("alpha".utf8), Array("2".utf8)]
        let envelope = try JobEnvelope.decode(fields: fields)
        #expect(envelope.headers == ["tenant": "acme"])
        #expect(envelope.extraFields == [
            .init(name: Array("zeta".utf8), value: [0xFF, 0x00]),
            .init(name: Array("alpha".utf8), value: Array("2".utf8)),
        ])
    }

    @Test(arguments: ["v", "id", "type", "payload"])
    func missingRequiredField(name: String) {
        Self.expectMalformed(
            Self.entry([(name, nil)]),
            "malformed job envelope: missing required field \"\(name)\"; every entry needs v, id, "
                + "type and payload (see docs/wire-format.md)"
        )
    }

    @Test(arguments: [
        ([("v", "2")], "unsupported job envelope version 2: this worker understands versions up to 1; upgrade the worker"),
        ([("v", "0")], "malformed job envelope: field \"v\" is 0; it must be at least 1"),
        ([("v", "one")], "malformed job envelope: field \"v\" is \"one\", not a whole number"),
        ([("attempt", "NaN")], "malformed job envelope: field \"attempt\" is \"NaN\", not a whole number"),
        ([("attempt", "0")], "malformed job envelope: field \"attempt\" is 0; it must be at least 1"),
        ([("attempt", "-3")], "malformed job envelope: field \"attempt\" is -3; it must be at least 1"),
        ([("attempt", "99999999999999999999")], "malformed job envelope: field \"attempt\" is \"99999999999999999999\", not a whole number"),
        ([("max_attempts", "0")], "malformed job envelope: field \"max_attempts\" is 0; it must be at least 1"),
        ([("enqueued_at", "-1")], "malformed job envelope: field \"enqueued_at\" is -1; it must be at least 0"),
        ([("enqueued_at", "1.5e12")], "malformed job envelope: field \"enqueued_at\" is \"1.5e12\", not a whole number"),
        ([("id", "42")], "malformed job envelope: field \"id\" is \"42\", not a UUID in 8-4-4-4-12 hex form"),
        ([("type", "")], "malformed job envelope: field \"type\" is empty"),
    ] as [([(String, String?)], String)])
    func rejectsBadValues(changes: [(String, String?)], message: String) {
        Self.expectMalformed(Self.entry(changes), message)
    }

    @Test func unsupportedVersionWinsOverOtherProblems() {
        Self.expectMalformed(
            Self.entry([("v", "3"), ("id", nil), ("attempt", "x")]),
            "unsupported job envelope version 3: this worker understands versions up to 1; upgrade the worker"
        )
    }

    @Test(arguments: ["type", "key"])
    func rejectsInvalidUTF8(name: String) {
        var fields = Self.entry([(name, "x")])
        let index = fields.firstIndex(of: Array(name.utf8))! + 1
        fields[index] = [0x61, 0xC3, 0x28]
        Self.expectMalformed(fields, "malformed job envelope: field \"\(name)\" is not valid UTF-8")
    }

    /// Trace context is metadata: one that is not UTF-8 is not W3C trace context, and the job
    /// still runs (the worker treats such a value as absent), where it was dead-lettered as malformed.
    @Test(arguments: ["traceparent", "tracestate"])
    func readsTraceContextThatIsNotUTF8AsInvalidText(name: String) throws {
        var fields = Self.entry([(name, "x")])
        let index = fields.firstIndex(of: Array(name.utf8))! + 1
        fields[index] = [0x61, 0xC3, 0x28]
        let envelope = try JobEnvelope.decode(fields: fields)
        let value = name == "traceparent" ? envelope.traceparent : envelope.tracestate
        #expect(value == "a\u{FFFD}(")
        #expect(!JobEnvelope.isValidTraceparent(envelope.traceparent ?? "") && !JobEnvelope.isValidTracestate(value ?? ""))
    }

    @Test func rejectsHeaderWithInvalidUTF8() {
        let fields = Self.entry() + [Array("h:x".utf8), [0xFF]]
        Self.expectMalformed(fields, "malformed job envelope: header field \"h:x\" is not valid UTF-8")
    }

    @Test func rejectsOddFieldCount() {
        Self.expectMalformed(
            Self.entry() + [Array("dangling".utf8)],
            "malformed job envelope: odd number of values (13); a stream entry is a list of name/value pairs"
        )
    }

    @Test(arguments: ["attempt", "h:tenant", "custom"])
    func rejectsDuplicateFields(name: String) {
        let fields = Self.entry([(name, "1")]) + [Array(name.utf8), Array("2".utf8)]
        Self.expectMalformed(
            fields,
            "malformed job envelope: duplicate field \"\(name)\"; write each field once"
        )
    }

    @Test func rejectsTooManyFields() {
        var fields = Self.entry()
        for index in 0..<995 {
            fields += [Array("x\(index)".utf8), []]
        }
        Self.expectMalformed(
            fields,
            "malformed job envelope: 1001 fields exceed the limit of 1000; put the data in the payload"
        )
        #expect(throws: Never.self) { try JobEnvelope.decode(fields: Array(fields.dropLast(2))) }
    }

    @Test func pairsFormRejectsTheSameProblems() {
        #expect(throws: SpoolError.self) {
            try JobEnvelope.decode(fields: [(name: Array("v".utf8), value: Array("1".utf8))])
        }
    }

    @Test func neverTrapsOnRandomInput() {
        var rng = SplitMix64(seed: 0x5EED)
        let names = [
            "v", "id", "type", "payload", "enqueued_at", "attempt", "max_attempts", "key",
            "traceparent", "tracestate", "h:", "h:a", "x",
        ].map { Array($0.utf8) }
        var decoded = 0
        for _ in 0..<5_000 {
            var fields = Self.entry()
            for _ in 0..<Int.random(in: 0...4, using: &rng) where !fields.isEmpty {
                let index = Int.random(in: 0..<fields.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0:
                    let count = Int.random(in: 0...40, using: &rng)
                    fields[index] = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                case 1: fields[index] = names.randomElement(using: &rng)!
                case 2: fields.remove(at: index)
                default: fields.append(names.randomElement(using: &rng)!)
                }
            }
            if (try? JobEnvelope.decode(fields: fields)) != nil { decoded += 1 }
        }
        #expect(decoded > 0)
    }
}
