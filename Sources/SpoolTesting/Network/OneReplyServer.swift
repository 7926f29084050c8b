import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback listener that answers the first connection's first bytes with `reply`, as a
/// server that is not Redis (or a Redis that goes away right after replying) would.
public enum OneReplyServer {
    /// What the server does once it has written the reply.
    public enum Then: Sendable {
        /// Closes at once: the client reads the reply, then the end of the stream.
        case close
        /// Reads until the client closes, then closes (closing with a request unread would
        /// reset the connection instead).
        case waitForClientClose
    }

    /// Starts the server on a thread of its own; returns its port.
    /// - Throws: ``RedisServerError`` when no listener can be set up.
    public static func start(reply: [UInt8], then: Then) throws(RedisServerError) -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw RedisServerError(code: .launchFailed, message: "socket() failed: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        // an accept that no client comes to ends (after 30 s) rather than holding the thread
        var acceptBound = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &acceptBound, socklen_t(MemoryLayout<timeval>.size))
        guard bound && listen(listener, 1) == 0 else {
            close(listener)
            throw RedisServerError(code: .launchFailed, message: "no loopback listener: \(String(cString: strerror(errno)))")
        }
        Thread.detachNewThread {
            defer { close(listener) }
            let connection = acceptClosingOnExec(listener)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var bound = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            guard recv(connection, &buffer, buffer.count, 0) > 0 else { return }
            _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if case .waitForClientClose = then {
                while recv(connection, &buffer, buffer.count, 0) > 0 {}
            }
            // the end of stream goes out now, even while a process another test spawns holds a
            // copy of the descriptor (until its exec)
            shutdown(connection, Int32(SHUT_WR))
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
