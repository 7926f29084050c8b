import Testing

@testable import Spool

@Suite struct JobEnvelopeEncodingTests {
    static let id = JobID("0190ff3c-5e4a-7b21-9c3d-4e5f60718293")!

    static func text(_ fields: [[UInt8]]) -> [String] {
        fields.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func minimalEnvelopeWritesRequiredFieldsInOrder() {
        let envelope = JobEnvelope(
            id: Self.id, type: "send_email", payload: Array(#"{"to":"a@b.c"}"#.utf8),
            enqueuedAt: 1_732_650_000_000
        )
        #expect(Self.text(envelope.encodedFields) == [
            "v", "1", "id", "0190ff3c-5e4a-7b21-9c3d-4e5f60718293", "type", "send_email",
            "payload", #"{"to":"a@b.c"}"#, "enqueued_at", "1732650000000",
        ])
    }

    @Test("enqueued_at equal to the id's time and attempt 1 are left out, and decode restores them")
    func defaultsAreLeftOut() throws {
        let envelope = JobEnvelope(id: Self.id, type: "t", payload: [1])
        #expect(envelope.enqueuedAt == Self.id.timestamp)
        #expect(Self.text(envelope.encodedFields) == [
            "v", "1", "id", "0190ff3c-5e4a-7b21-9c3d-4e5f60718293", "type", "t", "payload", "\u{01}",
        ])
        #expect(try JobEnvelope.decode(fields: envelope.encodedFields) == envelope)
        // either one away from its default is written, and only that one
        let later = JobEnvelope(id: Self.id, type: "t", payload: [], enqueuedAt: Self.id.timestamp + 1)
        #expect(Self.text(Array(later.encodedFields.suffix(2))) == ["enqueued_at", String(Self.id.timestamp + 1)])
        let second = JobEnvelope(id: Self.id, type: "t", payload: [], attempt: 2)
        #expect(Self.text(Array(second.encodedFields.suffix(2))) == ["attempt", "2"])
        #expect(try JobEnvelope.decode(fields: later.encodedFields) == later)
        #expect(try JobEnvelope.decode(fields: second.encodedFields) == second)
    }

    @Test("an id that is not a UUIDv7 carries no time: enqueuedAt defaults to now and is written")
    func otherVersionsKeepTheirTime() throws {
        let v4 = JobID("9b2f6c1e-3d4a-4f5b-8c6d-7e8f90a1b2c3")!
        #expect(v4.version == 4)
        let before = JobID.currentMillis()
        let envelope = JobEnvelope(id: v4, type: "t", payload: [])
        #expect(envelope.enqueuedAt >= before && envelope.enqueuedAt <= JobID.currentMillis())
        #expect(Self.text(Array(envelope.encodedFields.suffix(2))) == ["enqueued_at", String(envelope.enqueuedAt)])
        #expect(try JobEnvelope.decode(fields: envelope.encodedFields) == envelope)
    }

    @Test func optionalFieldsHeadersAndExtrasFollow() {
        var envelope = JobEnvelope(
            id: Self.id, type: "t", payload: [], enqueuedAt: 5, attempt: 3, maxAttempts: 7,
            key: "order-1", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            tracestate: "rojo=00f067aa0ba902b7", headers: ["tenant": "acme", "lang": "de"]
        )
        envelope.extraFields = [.init(name: Array("zz".utf8), value: [0, 1, 2])]
        var fields: [[UInt8]] = [Array("existing".utf8)]
        envelope.encodeFields(into: &fields)
        #expect(Self.text(Array(fields.prefix(13))) == [
            "existing", "v", "1", "id", "0190ff3c-5e4a-7b21-9c3d-4e5f60718293", "type", "t",
            "payload", "", "enqueued_at", "5", "attempt", "3",
        ])
        #expect(Self.text(Array(fields[13..<25])) == [
            "max_attempts", "7", "key", "order-1", "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate", "rojo=00f067aa0ba902b7",
            "h:lang", "de", "h:tenant", "acme",
        ])
        #expect(fields[25...] == [Array("zz".utf8), [0, 1, 2]])
        #expect(envelope.encodedFields.count == 2 * envelope.fieldCount)
    }

    @Test func payloadBytesAreWrittenUnchanged() {
        let payload: [UInt8] = (0...255).map { UInt8($0) }
        let envelope = JobEnvelope(id: Self.id, type: "bin", payload: payload, enqueuedAt: 0)
        #expect(envelope.encodedFields[7] == payload)
    }

    @Test func roundTripsThroughDecode() throws {
        var envelope = JobEnvelope(
            type: "ünïcode", payload: [0xFF, 0x00], attempt: 2, maxAttempts: 9, key: "k",
            traceparent: "tp", tracestate: "ts", headers: ["a": "1", "": "empty name", "b": ""]
        )
        envelope.extraFields = [
            .init(name: Array("x-future".utf8), value: [0xC0, 0xFF]),
            .init(name: [0xFE], value: []),
        ]
        #expect(try JobEnvelope.decode(fields: envelope.encodedFields) == envelope)
        let pairs = stride(from: 0, to: envelope.encodedFields.count, by: 2).map {
            (name: envelope.encodedFields[$0], value: envelope.encodedFields[$0 + 1])
        }
        #expect(try JobEnvelope.decode(fields: pairs) == envelope)
    }

    @Test(arguments: [0, 100, 524_288])
    func payloadWithinLimitPasses(size: Int) throws {
        try JobEnvelope.checkPayloadSize(size)
    }

    @Test func payloadOverLimitSaysWhatToDo() {
        #expect {
            try JobEnvelope.checkPayloadSize(524_289)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .payloadTooLarge
                && error?.message == "payload of 524289 bytes exceeds the limit of 524288 bytes: "
                    + "keep jobs small (ids and minimal context) or raise the limit (maxPayloadBytes in the library, "
                    + "--max-payload-bytes for spool worker and spool enqueue)"
        }
        #expect(throws: SpoolError.self) { try JobEnvelope.checkPayloadSize(11, limit: 10) }
    }

    @Test(arguments: [
        ("0", 0), ("42", 42), ("-7", -7), ("007", 7),
        ("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min),
    ] as [(String, Int64)])
    func decimalParserAcceptsIntegers(text: String, value: Int64) {
        #expect(DecimalParser.int64(Array(text.utf8)) == value)
    }

    @Test(arguments: [
        "", "-", "+1", " 1", "1 ", "1.0", "NaN", "0x10", "1e3", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999999", "--1", "1-",
    ])
    func decimalParserRejectsEverythingElse(text: String) {
        #expect(DecimalParser.int64(Array(text.utf8)) == nil)
    }
}
