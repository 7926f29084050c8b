#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let streamType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
#else
private let streamType = SOCK_STREAM
#endif

/// A non-blocking POSIX stream socket whose every operation honours a deadline.
///
/// A class, not a `~Copyable` struct: with Swift 6.3.1, a `~Copyable` struct holding a
/// `ContinuousClock.Instant` skipped its `deinit` when used from another file (non-WMO
/// builds), leaking the descriptor.
final class ProbeSocket {
    private let fd: Int32
    private let deadline: ContinuousClock.Instant

    /// Connects to `endpoint`, failing with `.timedOut` at `deadline`.
    init(connectingTo endpoint: RedisProbe.Endpoint, deadline: ContinuousClock.Instant) throws(RedisServerError) {
        var storage = sockaddr_storage()
        let family: Int32
        let length: socklen_t
        switch endpoint {
        case .tcp(let host, let port):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw RedisServerError(code: .connectionFailed, message: "not an IPv4 address: \(host)")
            }
            withUnsafeBytes(of: address) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            family = AF_INET
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        case .unix(let path):
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                throw RedisServerError(code: .connectionFailed, message: "unix socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
            withUnsafeBytes(of: address) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            family = AF_UNIX
            length = socklen_t(MemoryLayout<sockaddr_un>.size)
        }

        let fd = socket(family, streamType, 0)
        guard fd >= 0 else { throw Self.failure(.connectionFailed, "socket") }
        do throws(RedisServerError) {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            let result = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
            if result != 0 {
                guard errno == EINPROGRESS || errno == EAGAIN else { throw Self.failure(.connectionFailed, "connect") }
                try Self.wait(fd: fd, for: Int16(POLLOUT), deadline: deadline)
                var error: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
                guard error == 0 else { throw Self.failure(.connectionFailed, "connect", errno: error) }
            }
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.deadline = deadline
    }

    deinit {
        close(fd)
    }

    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws(RedisServerError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                try Self.wait(fd: fd, for: Int16(POLLOUT), deadline: deadline)
            } else {
                throw Self.failure(.connectionFailed, "send")
            }
        }
    }

    /// Reads what is available (at least one byte), or throws at end of stream.
    func read() throws(RedisServerError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 { return Array(buffer[..<count]) }
            if count == 0 {
                throw RedisServerError(code: .protocolViolation, message: "connection closed by server mid-reply")
            }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw Self.failure(.connectionFailed, "recv")
            }
            try Self.wait(fd: fd, for: Int16(POLLIN), deadline: deadline)
        }
    }

    private static func wait(fd: Int32, for events: Int16, deadline: ContinuousClock.Instant) throws(RedisServerError) {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw RedisServerError(code: .timedOut, message: "no answer from redis-server before the deadline")
            }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, milliseconds)
            if result > 0 { return }
            if result < 0 && errno != EINTR { throw Self.failure(.connectionFailed, "poll") }
        }
    }

    private static func failure(_ code: RedisServerError.Code, _ call: String, errno number: Int32 = errno) -> RedisServerError {
        RedisServerError(code: code, message: "\(call) failed: \(String(cString: strerror(number)))")
    }

    /// Asks the kernel for a currently free TCP port on 127.0.0.1 (bind to port 0, read, close).
    static func freeLocalPort() throws(RedisServerError) -> Int {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw failure(.launchFailed, "socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw failure(.launchFailed, "bind 127.0.0.1:0") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
