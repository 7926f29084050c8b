/// An error from the test Redis fixture or its probe client.
///
/// The `message` never contains a password; for `redis-cli` failures it names only the
/// command, not its arguments (which may carry secrets, as in `ACL SETUSER`).
public struct RedisServerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of values.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case serverNotFound
            case launchFailed
            case exitedEarly
            case addressInUse
            case startTimedOut
            case foreignServer
            case stopTimedOut
            case connectionFailed
            case timedOut
            case protocolViolation
            case commandFailed
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// `redis-server` or `redis-cli` is not installed.
        public static let serverNotFound = Code(.serverNotFound)
        /// The process could not be spawned, or its directory or files could not be made.
        public static let launchFailed = Code(.launchFailed)
        /// `redis-server` exited before it answered.
        public static let exitedEarly = Code(.exitedEarly)
        /// `redis-server` could not bind its port (start retries on another port).
        public static let addressInUse = Code(.addressInUse)
        /// `redis-server` did not answer PING within the start deadline.
        public static let startTimedOut = Code(.startTimedOut)
        /// The port was answered by a `redis-server` other than the one started.
        public static let foreignServer = Code(.foreignServer)
        /// `redis-server` ignored SIGTERM until the deadline and was killed.
        public static let stopTimedOut = Code(.stopTimedOut)
        /// The probe could not connect (for example: connection refused).
        public static let connectionFailed = Code(.connectionFailed)
        /// The probe or `redis-cli` got no complete answer before its deadline.
        public static let timedOut = Code(.timedOut)
        /// The server sent bytes that are not RESP2, or closed mid-reply.
        public static let protocolViolation = Code(.protocolViolation)
        /// A command, or `redis-cli`, reported a failure.
        public static let commandFailed = Code(.commandFailed)

        /// The code's name, such as `timedOut`.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// Human-readable detail, possibly with the tail of the server log.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the message.
    public var description: String { "RedisServerError(\(code)): \(message)" }
}
