import SpoolRedis

/// Something the envelope's fields can be written into: a list of values, or a Redis
/// command being built (so XADD gets them with no intermediate arrays).
public protocol EnvelopeFieldSink {
    /// Appends one field name or value.
    mutating func appendField(_ bytes: some Collection<UInt8>)
    /// Appends one field name or value given as text.
    mutating func appendField(_ text: String)
    /// Appends one field name or value (the usual shapes, so a sink can take them without
    /// generic dispatch; by default the same as the generic form).
    mutating func appendField(_ bytes: [UInt8])
    /// Appends one field name or value from a buffer (see ``appendField(_:)-([UInt8])``).
    mutating func appendField(_ bytes: UnsafeBufferPointer<UInt8>)
    /// Appends a decimal field value (by default, its text).
    mutating func appendField(_ value: Int64)
}

extension EnvelopeFieldSink {
    public mutating func appendField(_ bytes: [UInt8]) { appendField(bytes[...]) }
    public mutating func appendField(_ bytes: UnsafeBufferPointer<UInt8>) { appendField(bytes[...]) }
    public mutating func appendField(_ value: Int64) { appendField(String(value)) }
}

extension Array: EnvelopeFieldSink where Element == [UInt8] {
    public mutating func appendField(_ bytes: some Collection<UInt8>) { self.append([UInt8](bytes)) }
    public mutating func appendField(_ text: String) { self.append([UInt8](text.utf8)) }
}

extension RedisCommand: EnvelopeFieldSink {
    public mutating func appendField(_ bytes: some Collection<UInt8>) { append(bytes) }
    public mutating func appendField(_ bytes: [UInt8]) { append(bytes) }
    public mutating func appendField(_ bytes: UnsafeBufferPointer<UInt8>) { append(bytes) }
    public mutating func appendField(_ value: Int64) { append(value) }
    public mutating func appendField(_ text: String) { append(text) }
}

extension JobEnvelope {
    /// Appends the stream entry's fields as `name, value, name, value, …`, ready for XADD.
    ///
    /// Order: `v`, `id`, `type`, `payload`, `enqueued_at` (omitted when it is the id's
    /// timestamp), `attempt` (omitted when 1), then the optional `max_attempts`, `key`,
    /// `traceparent`, `tracestate` (each omitted when `nil`), headers as `h:<name>` sorted by name, and finally
    /// ``extraFields`` as read. Values are binary-safe bytes.
    public func encodeFields(into sink: inout some EnvelopeFieldSink) {
        sink.appendField(EnvelopeField.version.name)
        sink.appendField(Int64(version))
        sink.appendField(EnvelopeField.id.name)
        id.withUTF8 { sink.appendField($0) }
        sink.appendField(EnvelopeField.type.name)
        sink.appendField(type)
        sink.appendField(EnvelopeField.payload.name)
        sink.appendField(payload)
        // left out when they hold the wire format's defaults (the id's time, the first attempt):
        // fewer fields for Redis to store and for every read to carry, through Lua too
        if enqueuedAt != id.timestamp {
            sink.appendField(EnvelopeField.enqueuedAt.name)
            sink.appendField(enqueuedAt)
        }
        if attempt != 1 {
            sink.appendField(EnvelopeField.attempt.name)
            sink.appendField(Int64(attempt))
        }
        if let maxAttempts {
            sink.appendField(EnvelopeField.maxAttempts.name)
            sink.appendField(Int64(maxAttempts))
        }
        if let key {
            sink.appendField(EnvelopeField.key.name)
            sink.appendField(key)
        }
        if let traceparent {
            sink.appendField(EnvelopeField.traceparent.name)
            sink.appendField(traceparent)
        }
        if let tracestate {
            sink.appendField(EnvelopeField.tracestate.name)
            sink.appendField(tracestate)
        }
        if !headers.isEmpty {
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
                sink.appendField(EnvelopeField.headerPrefix + Array(name.utf8))
                sink.appendField(value)
            }
        }
        for field in extraFields {
            sink.appendField(field.name)
            sink.appendField(field.value)
        }
    }

    /// How many fields (name/value pairs) ``encodeFields(into:)`` writes.
    var fieldCount: Int {
        var count = 4 + headers.count + extraFields.count
        if enqueuedAt != id.timestamp { count += 1 }
        if attempt != 1 { count += 1 }
        if maxAttempts != nil { count += 1 }
        if key != nil { count += 1 }
        if traceparent != nil { count += 1 }
        if tracestate != nil { count += 1 }
        return count
    }

    /// The stream entry's fields as `name, value, name, value, …` (see ``encodeFields(into:)``).
    public var encodedFields: [[UInt8]] {
        var fields: [[UInt8]] = []
        fields.reserveCapacity(12 + 2 * (headers.count + extraFields.count) + 6)
        encodeFields(into: &fields)
        return fields
    }
}
