extension JobEnvelope {
    /// Decodes a stream entry given as a flat list `name, value, name, value, …` (as XREADGROUP
    /// returns it).
    /// - Throws: ``SpoolError/Code/malformedEnvelope`` with the precise reason; never traps.
    public static func decode(fields: [[UInt8]]) throws(SpoolError) -> JobEnvelope {
        guard fields.count % 2 == 0 else {
            throw malformed(
                "odd number of values (\(fields.count)); a stream entry is a list of name/value pairs"
            )
        }
        try checkFieldCount(fields.count / 2)
        var decoder = EnvelopeDecoder()
        var index = 0
        while index + 1 < fields.count {
            try decoder.add(name: fields[index], value: fields[index + 1])
            index += 2
        }
        return try decoder.finish()
    }

    /// Decodes a stream entry given as name/value pairs.
    /// - Throws: ``SpoolError/Code/malformedEnvelope`` with the precise reason; never traps.
    public static func decode(
        fields: [(name: [UInt8], value: [UInt8])]
    ) throws(SpoolError) -> JobEnvelope {
        try checkFieldCount(fields.count)
        var decoder = EnvelopeDecoder()
        for field in fields {
            try decoder.add(name: field.name, value: field.value)
        }
        return try decoder.finish()
    }

    private static func checkFieldCount(_ count: Int) throws(SpoolError) {
        guard count <= maxFieldCount else {
            throw malformed(
                "\(count) fields exceed the limit of \(maxFieldCount); put the data in the payload"
            )
        }
    }

    /// The field of the entry that stands for a scheduled member the promoter could not read;
    /// its value says why, and field `spool_member` holds the member's bytes.
    static let unreadableMarker = "spool_unreadable"

    /// A ``SpoolError/Code/malformedEnvelope`` error with `reason`.
    static func malformed(_ reason: String) -> SpoolError {
        SpoolError(code: .malformedEnvelope, message: "malformed job envelope: \(reason)")
    }
}

/// Collects the raw fields of one stream entry, then validates them all at once, the version
/// first (a newer version may mean other fields differently).
struct EnvelopeDecoder {
    private var known = KnownFields()
    private var headers: [(name: [UInt8], value: [UInt8])] = []
    private var headerNames: Set<[UInt8]> = []
    private var extras: [JobEnvelope.ExtraField] = []
    private var extraNames: Set<[UInt8]> = []

    /// Records one field; throws only for a duplicate name.
    mutating func add(name: [UInt8], value: [UInt8]) throws(SpoolError) {
        let isNew: Bool
        if let field = EnvelopeField(name: name) {
            isNew = known[field] == nil
            known[field] = value
        } else if name.starts(with: EnvelopeField.headerPrefix) {
            let headerName = Array(name.dropFirst(EnvelopeField.headerPrefix.count))
            isNew = headerNames.insert(headerName).inserted
            headers.append((headerName, value))
        } else {
            isNew = extraNames.insert(name).inserted
            extras.append(JobEnvelope.ExtraField(name: name, value: value))
        }
        guard isNew else {
            throw JobEnvelope.malformed(
                "duplicate field \(SpoolError.quoted(name)); write each field once"
            )
        }
    }

    /// Validates the collected fields and builds the envelope.
    func finish() throws(SpoolError) -> JobEnvelope {
        if known[.version] == nil,
           let marker = extras.first(where: { $0.name.elementsEqual(JobEnvelope.unreadableMarker.utf8) }) {
            // a scheduled member the promoter could not read (SpoolScripts.promote): its reason
            throw JobEnvelope.malformed(String(decoding: marker.value, as: UTF8.self))
        }
        guard let version = try integer(.version, minimum: 1) else { throw missing(.version) }
        guard version <= JobEnvelope.currentVersion else {
            throw SpoolError(
                code: .malformedEnvelope,
                message: "unsupported job envelope version \(version): this worker understands "
                    + "versions up to \(JobEnvelope.currentVersion); upgrade the worker"
            )
        }
        guard let idBytes = known[.id] else { throw missing(.id) }
        guard let id = JobID(utf8: idBytes) else {
            throw JobEnvelope.malformed(
                "field \"id\" is \(SpoolError.quoted(idBytes)), not a UUID in 8-4-4-4-12 hex form"
            )
        }
        guard let type = try text(.type) else { throw missing(.type) }
        guard !type.isEmpty else { throw JobEnvelope.malformed("field \"type\" is empty") }
        guard let payload = known[.payload] else { throw missing(.payload) }

        var envelope = JobEnvelope(
            id: id,
            type: type,
            payload: payload,
            enqueuedAt: try integer64(.enqueuedAt, minimum: 0) ?? id.timestamp,
            attempt: try integer(.attempt, minimum: 1) ?? 1,
            maxAttempts: try integer(.maxAttempts, minimum: 1),
            key: try text(.key),
            traceparent: lenientText(.traceparent),
            tracestate: lenientText(.tracestate)
        )
        envelope.version = version
        for header in headers {
            guard let name = String(validating: header.name, as: UTF8.self),
                let value = String(validating: header.value, as: UTF8.self)
            else {
                let field = SpoolError.quoted(EnvelopeField.headerPrefix + header.name)
                throw JobEnvelope.malformed("header field \(field) is not valid UTF-8")
            }
            envelope.headers[name] = value
        }
        envelope.extraFields = extras
        return envelope
    }

    private func missing(_ field: EnvelopeField) -> SpoolError {
        JobEnvelope.malformed(
            "missing required field \"\(field.name)\"; every entry needs v, id, type and payload "
                + "(see docs/wire-format.md)"
        )
    }

    private func text(_ field: EnvelopeField) throws(SpoolError) -> String? {
        guard let bytes = known[field] else { return nil }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw JobEnvelope.malformed("field \"\(field.name)\" is not valid UTF-8")
        }
        return string
    }

    /// The field as text, with bytes that are not UTF-8 replaced (U+FFFD). For trace context:
    /// a value that is not UTF-8 is not W3C trace context either, so the worker treats it as
    /// absent, as it does any invalid one, rather than dead-letter the job for its metadata.
    private func lenientText(_ field: EnvelopeField) -> String? {
        known[field].map { String(decoding: $0, as: UTF8.self) }
    }

    private func integer64(_ field: EnvelopeField, minimum: Int64) throws(SpoolError) -> Int64? {
        guard let bytes = known[field] else { return nil }
        guard let value = DecimalParser.int64(bytes) else {
            throw JobEnvelope.malformed(
                "field \"\(field.name)\" is \(SpoolError.quoted(bytes)), not a whole number"
            )
        }
        guard value >= minimum else {
            throw JobEnvelope.malformed("field \"\(field.name)\" is \(value); it must be at least \(minimum)")
        }
        return value
    }

    private func integer(_ field: EnvelopeField, minimum: Int) throws(SpoolError) -> Int? {
        guard let value = try integer64(field, minimum: Int64(minimum)) else { return nil }
        guard let result = Int(exactly: value) else {
            throw JobEnvelope.malformed("field \"\(field.name)\" is \(value), which is out of range")
        }
        return result
    }
}

/// The values of the known fields, one stored property each: no hashing and no allocation
/// per entry, as a dictionary keyed by ``EnvelopeField`` would need.
private struct KnownFields {
    private var version: [UInt8]?
    private var id: [UInt8]?
    private var type: [UInt8]?
    private var payload: [UInt8]?
    private var enqueuedAt: [UInt8]?
    private var attempt: [UInt8]?
    private var maxAttempts: [UInt8]?
    private var key: [UInt8]?
    private var traceparent: [UInt8]?
    private var tracestate: [UInt8]?

    subscript(field: EnvelopeField) -> [UInt8]? {
        get {
            switch field {
            case .version: version
            case .id: id
            case .type: type
            case .payload: payload
            case .enqueuedAt: enqueuedAt
            case .attempt: attempt
            case .maxAttempts: maxAttempts
            case .key: key
            case .traceparent: traceparent
            case .tracestate: tracestate
            }
        }
        set {
            switch field {
            case .version: version = newValue
            case .id: id = newValue
            case .type: type = newValue
            case .payload: payload = newValue
            case .enqueuedAt: enqueuedAt = newValue
            case .attempt: attempt = newValue
            case .maxAttempts: maxAttempts = newValue
            case .key: key = newValue
            case .traceparent: traceparent = newValue
            case .tracestate: tracestate = newValue
            }
        }
    }
}
