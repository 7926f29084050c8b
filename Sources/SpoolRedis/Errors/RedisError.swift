#if canImport(FoundationEssentials)
import FoundationEssentials   // LocalizedError, without the rest of Foundation
#else
import Foundation
#endif

/// An error from the Redis client: a connection failure, a timeout, or an error reply.
///
/// Every message names the server by its redacted address and never contains a password.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable {
            case connectionFailed = "connection failed"
            case connectionClosed = "connection closed"
            case timeout = "timed out"
            case authenticationFailed = "authentication failed"
            case noPermission = "permission denied"
            case serverError = "server error"
            case noScript = "script not loaded"
            case protocolError = "protocol error"
            case invalidURL = "invalid URL"
            case invalidConfiguration = "invalid configuration"
            case shutdown = "client shut down"
            case cancelled = "cancelled"
            case outOfMemory = "out of memory"
            case redirected = "cluster redirection"
            case unsupportedCommand = "unsupported command"
        }
        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// The server could not be reached (refused, unknown host, connect timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection broke while a command was in flight.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply arrived within the command timeout.
        public static let timeout = Code(.timeout)
        /// AUTH was refused (WRONGPASS, NOAUTH).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The ACL user may not run this command or touch this key (NOPERM).
        public static let noPermission = Code(.noPermission)
        /// Redis answered with an error reply; ``RedisError/message`` holds its text.
        public static let serverError = Code(.serverError)
        /// EVALSHA named a script the server does not have (NOSCRIPT).
        public static let noScript = Code(.noScript)
        /// The reply could not be parsed.
        public static let protocolError = Code(.protocolError)
        /// The Redis URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// A ``RedisConfiguration`` setting is out of range (see ``RedisConfiguration/validate()``).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The client was shut down.
        public static let shutdown = Code(.shutdown)
        /// The caller cancelled the command.
        public static let cancelled = Code(.cancelled)
        /// Redis refused a write because it reached `maxmemory` (OOM).
        public static let outOfMemory = Code(.outOfMemory)
        /// A Redis Cluster MOVED or ASK redirection.
        public static let redirected = Code(.redirected)
        /// The client refused to send a command that would break its one reply per command
        /// (`SUBSCRIBE`, `MONITOR`, `CLIENT REPLY OFF`, ...); nothing was sent.
        public static let unsupportedCommand = Code(.unsupportedCommand)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The detail: the server's error text, or what went wrong locally.
    public var message: String
    /// The server's redacted address (`redis://user:***@host:port`), when known.
    public var address: String?

    /// Creates an error.
    public init(code: Code, message: String, address: String? = nil) {
        self.code = code
        self.message = message
        self.address = address
    }

    /// A one-line message, e.g. `Redis at redis://127.0.0.1:6379: timed out: no reply within 2s`.
    public var description: String {
        let subject = address.map { "Redis at \($0)" } ?? "Redis"
        switch code {
        case .serverError:
            return "\(subject): \(message)"
        default:
            return "\(subject): \(code): \(message)"
        }
    }

    /// Builds the error for an error reply, classifying it by its prefix (NOPERM, NOSCRIPT, ...).
    package static func reply(_ text: String, address: String?) -> RedisError {
        let prefix = text.prefix { $0 != " " }
        let code: Code
        switch prefix {
        case "NOPERM": code = .noPermission
        case "WRONGPASS", "NOAUTH": code = .authenticationFailed
        case "NOSCRIPT": code = .noScript
        case "OOM": code = .outOfMemory
        case "MOVED", "ASK": code = .redirected
        default: code = .serverError
        }
        var message = text
        if code == .authenticationFailed {
            message += " (check the user name and password in the URL or RedisConfiguration; "
                + "the spool CLI also reads SPOOL_REDIS_PASSWORD)"
        } else if code == .noPermission {
            message += " (the Redis ACL user lacks this command or key pattern; see docs/operations.md)"
        } else if code == .redirected {
            message += singleServerRedirectHint
        }
        return RedisError(code: code, message: message, address: address)
    }

    /// What a redirect tells a client that talks to one server.
    private static let singleServerRedirectHint =
        " (the server is a Redis Cluster node: connect with a redis-cluster:// URL; see docs/cluster.md)"

    /// The error as a cluster client reports it: a redirect (MOVED, ASK) that reached the
    /// caller says the slot moved, not to use the `redis-cluster://` URL the client already has.
    package func forCluster() -> RedisError {
        guard code == .redirected, message.hasSuffix(Self.singleServerRedirectHint) else { return self }
        var error = self
        error.message = String(message.dropLast(Self.singleServerRedirectHint.count))
            + " (the key's hash slot moved to another master, or is migrating: send again, or lease the dedicated "
            + "connection again; see docs/cluster.md)"
        return error
    }

    /// A handshake command's error reply made safe to show: the arguments Redis echoes
    /// after `with args beginning with:` (those of AUTH are the user name and password) are
    /// cut off, and any other occurrence of `password` is replaced by `***`.
    package static func redactingHandshakeReply(_ text: String, password: String?) -> String {
        var text = text
        let echo = "with args beginning with:"
        if let range = text.firstRange(of: echo) {
            text = String(text[..<range.upperBound]) + " (redacted)"
        }
        if let password, !password.isEmpty {
            text = text.replacing(password, with: "***")
        }
        return text
    }

    /// The message when AUTH as a named user without a password was refused: a URL like
    /// `redis://user@host` whose password was left out (or whose variable was not set).
    /// Names no user: what stands before the `@` may be a password written as redis-cli
    /// reads it (`redis://SECRET@host`).
    package static func userWithoutPassword(reply: String) -> String {
        "the URL's user name was given without a password and Redis refused it: if what stands before the '@' is the "
            + "password, write redis://:PASSWORD@host (Spool reads USER@ as a user name, as RFC 3986 does; redis-cli reads it "
            + "as a password); if it is a user name, add :PASSWORD after it, or set RedisConfiguration.password; the spool CLI "
            + "also reads SPOOL_REDIS_PASSWORD (Redis said: \(reply))"
    }
}

/// So that `localizedDescription` (and anything else that asks Foundation for an error's text)
/// gives the one-line ``RedisError/description`` rather than "The operation could not be
/// completed".
extension RedisError: LocalizedError {
    /// The one-line ``description``.
    public var errorDescription: String? { description }
}
