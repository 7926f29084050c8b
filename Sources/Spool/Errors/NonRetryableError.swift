/// Thrown by a job handler to send the job straight to the dead-letter stream, skipping any
/// retries left (e.g. for input that can never succeed).
///
/// ```swift
/// guard let user = try await users.find(parameters.userID) else {
///     throw NonRetryableError("user \(parameters.userID) does not exist")
/// }
/// ```
public struct NonRetryableError: Error, Sendable, CustomStringConvertible {
    /// Why the job cannot succeed; recorded with the dead letter.
    public var message: String
    /// The error that made the job fail, if any.
    public var underlying: (any Error & Sendable)?

    /// Creates an error from a reason.
    public init(_ message: String) {
        self.message = message
        self.underlying = nil
    }

    /// Wraps an error that retrying cannot fix; `message` defaults to its description.
    public init(_ underlying: any Error & Sendable, message: String? = nil) {
        self.message = message ?? String(describing: underlying)
        self.underlying = underlying
    }

    /// The reason, as recorded with the dead letter.
    public var description: String { message }
}
