extension JobEnvelope {
    /// Appends the stream entry's fields as `name, value, name, value, …`, ready for XADD.
    ///
    /// Order: `v`, `id`, `type`, `payload`, `enqueued_at`, `attempt`, then the optional
    /// `max_attempts`, `key`, `traceparent` (omitted when `nil`), headers as `h:<name>` sorted by
    /// name, and finally ``extraFields`` as read. Values are binary-safe bytes.
    public func encodeFields(into fields: inout [[UInt8]]) {
        let optionalCount = (maxAttempts == nil ? 0 : 1) + (key == nil ? 0 : 1)
            + (traceparent == nil ? 0 : 1)
        let fieldCount = 6 + optionalCount + headers.count + extraFields.count
        fields.reserveCapacity(fields.count + 2 * fieldCount)

        append(.version, Self.decimal(version), to: &fields)
        append(.id, id.utf8Bytes, to: &fields)
        append(.type, Array(type.utf8), to: &fields)
        append(.payload, payload, to: &fields)
        append(.enqueuedAt, Self.decimal(enqueuedAt), to: &fields)
        append(.attempt, Self.decimal(attempt), to: &fields)
        if let maxAttempts {
            append(.maxAttempts, Self.decimal(maxAttempts), to: &fields)
        }
        if let key {
            append(.key, Array(key.utf8), to: &fields)
        }
        if let traceparent {
            append(.traceparent, Array(traceparent.utf8), to: &fields)
        }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            fields.append(EnvelopeField.headerPrefix + Array(name.utf8))
            fields.append(Array(value.utf8))
        }
        for field in extraFields {
            fields.append(field.name)
            fields.append(field.value)
        }
    }

    /// The stream entry's fields as `name, value, name, value, …` (see ``encodeFields(into:)``).
    public var encodedFields: [[UInt8]] {
        var fields: [[UInt8]] = []
        encodeFields(into: &fields)
        return fields
    }

    private func append(_ field: EnvelopeField, _ value: [UInt8], to fields: inout [[UInt8]]) {
        fields.append(field.nameBytes)
        fields.append(value)
    }

    private static func decimal(_ value: some BinaryInteger) -> [UInt8] {
        Array(String(value).utf8)
    }
}
