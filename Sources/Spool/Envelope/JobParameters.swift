import Foundation

/// The parameters of one kind of job, encoded as JSON into the payload.
///
/// ```swift
/// struct SendEmail: JobParameters {
///     static let jobName = "send_email"
///     let to: String
/// }
/// ```
public protocol JobParameters: Codable, Sendable {
    /// The job type name written to the `type` field; handlers are looked up by it.
    static var jobName: String { get }
}

extension JobEnvelope {
    /// Creates an envelope whose type is `J.jobName` and whose payload is `parameters` as JSON.
    /// - Throws: ``SpoolError/Code/encodingFailed`` if encoding fails,
    ///   ``SpoolError/Code/payloadTooLarge`` if the JSON exceeds `maxPayloadBytes`.
    public static func make<J: JobParameters>(
        _ parameters: J,
        id: JobID = JobID(),
        enqueuedAt: Int64? = nil,
        maxAttempts: Int? = nil,
        key: String? = nil,
        traceparent: String? = nil,
        tracestate: String? = nil,
        headers: [String: String] = [:],
        maxPayloadBytes: Int = defaultMaxPayloadBytes
    ) throws(SpoolError) -> JobEnvelope {
        let payload: [UInt8]
        do {
            // the fast encoder, or Foundation's for whatever it cannot be sure to match
            payload = try (try? PayloadJSON.encode(parameters)) ?? Array(JSONCoders.encoder.encode(parameters))
        } catch {
            throw SpoolError(
                code: .encodingFailed,
                message: "could not encode parameters of job type \(SpoolError.quoted(J.jobName)) "
                    + "as JSON: \(Self.summary(of: error))",
                underlying: error
            )
        }
        try checkPayloadSize(payload.count, limit: maxPayloadBytes)
        return JobEnvelope(
            id: id,
            type: J.jobName,
            payload: payload,
            enqueuedAt: enqueuedAt,
            maxAttempts: maxAttempts,
            key: key,
            traceparent: traceparent,
            tracestate: tracestate,
            headers: headers
        )
    }

    /// Decodes the JSON payload as `J`.
    /// - Throws: ``SpoolError/Code/decodingFailed`` if ``type`` is not `J.jobName` or the payload
    ///   does not decode as `J`.
    public func decodePayload<J: JobParameters>(as _: J.Type = J.self) throws(SpoolError) -> J {
        guard type == J.jobName else {
            throw SpoolError(
                code: .decodingFailed,
                message: "job \(id) has type \(SpoolError.quoted(type)), not "
                    + "\(SpoolError.quoted(J.jobName)): register the handler under the job's type"
            )
        }
        // The fast decoder, or Foundation's for whatever it cannot be sure to match and for
        // every error, so that errors read as Foundation words them.
        if let parameters = try? PayloadJSON.decode(J.self, from: payload) { return parameters }
        do {
            return try JSONCoders.decoder.decode(J.self, from: Data(payload))
        } catch {
            throw SpoolError(
                code: .decodingFailed,
                message: "payload of job \(id) (type \(SpoolError.quoted(type))) does not decode as "
                    + "\(J.self): \(Self.summary(of: error)); make producer and handler agree",
                underlying: error
            )
        }
    }

    /// Describes a coding error by its kind and coding path, never by the values involved.
    static func summary(of error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "at the top level" : "at \(keys.joined(separator: "."))"
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key \(SpoolError.quoted(key.stringValue)) \(path(context))"
        case DecodingError.typeMismatch(let type, let context):
            return "expected \(type) \(path(context))"
        case DecodingError.valueNotFound(let type, let context):
            return "expected \(type) but found null \(path(context))"
        case DecodingError.dataCorrupted(let context):
            return "invalid data \(path(context))"
        case EncodingError.invalidValue(_, let context):
            return "invalid value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(Swift.type(of: error))"
        }
    }
}

/// One encoder and one decoder for every job: both are `Sendable`, and never reconfigured
/// after creation, so sharing them is safe; creating one per job costs allocations.
enum JSONCoders {
    static let encoder = JSONEncoder()
    static let decoder = JSONDecoder()
}
