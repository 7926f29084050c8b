import Foundation

/// A tiny RESP2 client for probing a test server: one fresh connection per call.
///
/// It exists to check liveness and identity (PING, INFO) and to observe failures such
/// as a paused server, independently of the client under test. Each call runs its
/// blocking socket I/O on a dedicated thread, so it never stalls the concurrency pool.
public struct RedisProbe: Sendable {
    /// Where the server listens.
    public enum Endpoint: Sendable, Hashable {
        /// A TCP address: an IPv4 host and a port.
        case tcp(host: String, port: Int)
        /// A unix domain socket path.
        case unix(path: String)
    }

    /// A RESP2 reply.
    public enum Reply: Sendable, Hashable {
        /// A simple string, such as `PONG` or `OK`.
        case simple(String)
        /// An error reply, such as `NOAUTH Authentication required.`.
        case error(String)
        /// An integer reply.
        case integer(Int)
        /// A bulk string; `nil` for the null bulk string.
        case bulk(String?)
        /// An array; `nil` for the null array.
        case array([Reply]?)

        /// The text of a simple or bulk string reply, else `nil`.
        public var string: String? {
            switch self {
            case .simple(let text): text
            case .bulk(let text): text
            default: nil
            }
        }
    }

    /// The server address.
    public var endpoint: Endpoint
    /// Sent with `AUTH` before the commands when set. Defaults to `nil`.
    public var password: String?
    /// The deadline for the whole call: connect, send, and read every reply.
    public var timeout: Duration

    /// Creates a probe; nothing connects until a command is sent.
    public init(endpoint: Endpoint, password: String? = nil, timeout: Duration = .seconds(2)) {
        self.endpoint = endpoint
        self.password = password
        self.timeout = timeout
    }

    /// Sends one command and returns its reply; an error reply is returned, not thrown.
    ///
    /// - Throws: `RedisServerError` with code `.connectionFailed`, `.timedOut`, or
    ///   `.protocolViolation`; or `.commandFailed` if `AUTH` was refused.
    public func command(_ arguments: String...) async throws(RedisServerError) -> Reply {
        try await pipeline([arguments])[0]
    }

    /// Sends several commands on one connection and returns their replies in order.
    public func pipeline(_ commands: [[String]]) async throws(RedisServerError) -> [Reply] {
        let result = await onDedicatedThread { [self] in
            Result { () throws(RedisServerError) in try self.pipelineBlocking(commands) }
        }
        return try result.get()
    }

    /// The blocking implementation of `pipeline`, for use off the concurrency pool.
    func pipelineBlocking(_ commands: [[String]]) throws(RedisServerError) -> [Reply] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let socket = try ProbeSocket(connectingTo: endpoint, deadline: deadline)
        var all = commands
        if let password {
            all.insert(["AUTH", password], at: 0)
        }
        try socket.write(all.flatMap(RESP.encode))
        var parser = RESP.Parser()
        var replies: [Reply] = []
        while replies.count < all.count {
            if let reply = try parser.next() {
                replies.append(reply)
            } else {
                parser.append(try socket.read())
            }
        }
        if password != nil {
            if case .error(let message) = replies.removeFirst() {
                throw RedisServerError(code: .commandFailed, message: "AUTH refused: \(message)")
            }
        }
        return replies
    }
}

/// Runs `body` on a new thread and resumes with its result.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}
