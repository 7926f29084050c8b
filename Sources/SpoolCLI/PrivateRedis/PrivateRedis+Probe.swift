import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension PrivateRedis {
    /// What a server said to one `PING`.
    enum PingReply: Equatable {
        /// No connection, or no reply in time (a stopped or stalled server).
        case none
        /// `-LOADING`: it replays its append-only file and answers nothing else yet.
        case loading
        /// Any other reply: `+PONG`, or an error such as `-ERR max number of clients reached`.
        case answered
    }

    /// Waits until the server on the socket answers `PING` (anything but `-LOADING`).
    ///
    /// With `pid` (a server already running), returns `false` as soon as that process ends,
    /// so the caller may start a new one; without it (a server just started), waits the whole
    /// time. Never starts or stops anything.
    /// - Throws: when it does not answer within `limit`: a server that is alive but silent
    ///   (stopped, stalled) is never replaced by a second one on the same data.
    func awaitAnswer(from pid: pid_t?, within limit: Duration) throws -> Bool {
        let deadline = ContinuousClock.now + limit
        var last = PingReply.none
        while true {
            let remaining = deadline - ContinuousClock.now
            last = Self.ping(socketPath, timeout: min(max(remaining, .milliseconds(100)), .seconds(1)))
            if last == .answered { return true }
            if let pid, Self.hasEnded(pid) { return false }
            if ContinuousClock.now >= deadline { break }
            usleep(20_000)
        }
        let server = pid.map { "the private redis-server (pid \($0))" } ?? "the private redis-server"
        let within = DurationArgument(limit).description
        if last == .loading {
            throw CLIError("\(server) is still loading its data after \(within); try again shortly (see \(logPath))")
        }
        if pid == nil {
            throw CLIError("\(server) did not answer within \(within); see \(logPath)")
        }
        throw CLIError("\(server) runs but does not answer within \(within); see \(logPath), "
            + "or stop it with `spool redis stop`")
    }

    /// Sends `PING` to the server on `path` and reads its reply, waiting at most `timeout`
    /// to connect and as long again for the reply.
    static func ping(_ path: String, timeout: Duration) -> PingReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .none }
        defer { close(fd) }
        let (seconds, attoseconds) = timeout.components
        var time = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        // SO_SNDTIMEO bounds connect() too: a stopped server's full backlog blocks it
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return .none }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return .none }
        let ping = Array("PING\r\n".utf8)
        // MSG_NOSIGNAL: a server that refuses clients closes at once, and SIGPIPE is not
        // ignored yet (the Redis client does that later), so a write() would kill `spool`
        guard send(fd, ping, ping.count, Int32(MSG_NOSIGNAL)) == ping.count else { return .none }
        var reply = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &reply, reply.count)
        guard count > 0 else { return .none }
        return reply.starts(with: Array("-LOADING".utf8)) ? .loading : .answered
    }
}
