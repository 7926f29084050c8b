/// The one error type thrown by Spool: a ``Code`` to match on, a message that says what went
/// wrong and how to fix it, and the error that caused it, if any.
///
/// Messages never contain job payloads; they may contain names (queues, groups, fields, job
/// types). Match on ``code``, never on ``message``.
public struct SpoolError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is; new codes may be added in any release.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidQueueName
            case invalidGroupName
            case payloadTooLarge
            case malformedEnvelope
            case encodingFailed
            case decodingFailed
            case unknownQueue
            case redis
            case handlerTimeout
            case shutdown
            case invalidArgument
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A queue name broke the naming rule (1–100 characters of `[A-Za-z0-9._:-]`).
        public static let invalidQueueName = Code(.invalidQueueName)
        /// A group name broke the naming rule (1–100 characters of `[A-Za-z0-9._:-]`).
        public static let invalidGroupName = Code(.invalidGroupName)
        /// A job's payload is larger than the configured limit.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// A stream entry is not a valid job envelope (the message says which field and why).
        public static let malformedEnvelope = Code(.malformedEnvelope)
        /// Job parameters could not be encoded into a payload.
        public static let encodingFailed = Code(.encodingFailed)
        /// A payload could not be decoded into the requested job parameters.
        public static let decodingFailed = Code(.decodingFailed)
        /// The named queue does not exist.
        public static let unknownQueue = Code(.unknownQueue)
        /// Redis failed or replied with an error; `underlying` holds the client error.
        public static let redis = Code(.redis)
        /// A handler ran longer than its timeout. Not thrown by Spool now: a timed-out attempt
        /// fails as any other, with the message "handler timed out after …" in its retry or
        /// dead letter (kept so that code matching on it still compiles).
        public static let handlerTimeout = Code(.handlerTimeout)
        /// The component is shutting down and refused the operation: e.g. a push, or a
        /// worker's `run()`, after the `RedisClient` was shut down (`underlying` holds the
        /// client's error).
        public static let shutdown = Code(.shutdown)
        /// An argument or setting has a value outside its allowed range.
        public static let invalidArgument = Code(.invalidArgument)

        /// The code's name, e.g. `malformedEnvelope`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// One line saying what went wrong and how to fix it; never contains payload bytes.
    public var message: String
    /// The error that caused this one, if any (e.g. a Redis client or `DecodingError`).
    public var underlying: (any Error & Sendable)?
    /// The source file that threw the error.
    public var file: String
    /// The source line that threw the error.
    public var line: Int

    /// Creates an error; `file` and `line` default to the caller's location.
    public init(
        code: Code,
        message: String,
        underlying: (any Error & Sendable)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// The one-line message, e.g. `invalid queue name "a b" (contains " "): use 1-100 characters of …`.
    public var description: String { message }

    /// The code, message, underlying error and throwing location, for debugging.
    public var debugDescription: String {
        var text = "SpoolError(code: \(code), message: \(String(reflecting: message))"
        if let underlying {
            text += ", underlying: \(String(reflecting: underlying))"
        }
        text += ", at: \(file):\(line))"
        return text
    }
}
