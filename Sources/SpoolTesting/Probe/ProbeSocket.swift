#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

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

    /// A TCP port free on 127.0.0.1 now, for a test server.
    ///
    /// Taken below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`),
    /// in turn from a random start and not twice while the range lasts, so that no other test's
    /// server and no client connection (its local port is an ephemeral one) takes it while a
    /// server is stopped: a server restarted on its port found it taken (EADDRINUSE), 1 run
    /// of the suite in 8, when ports came from a bind to port 0. Each is checked free by a bind.
    /// Where the ephemeral range starts too low to leave room below it, a bind to port 0.
    static func freeLocalPort() throws(RedisServerError) -> Int {
        guard let range = belowEphemeral else { return try boundPort(0) }
        for _ in 0..<range.count {
            let candidate = nextCandidate.withLock { next in
                let port = next ?? Int.random(in: range)
                next = port + 1 == range.upperBound ? range.lowerBound : port + 1
                return port
            }
            if let port = try? boundPort(candidate) { return port }
        }
        return try boundPort(0)
    }

    /// Ports from 10000 to the ephemeral range's start (a cluster node's bus port is also
    /// taken from here), or `nil` when that leaves under 1000.
    private static let belowEphemeral: Range<Int>? = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        guard let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) }),
              low - 10_000 >= 1_000
        else { return nil }
        return 10_000..<low
    }()

    private static let nextCandidate = Mutex<Int?>(nil)

    /// Binds 127.0.0.1:`port` (0: one the kernel picks), closes, and returns the port bound.
    private static func boundPort(_ port: Int) throws(RedisServerError) -> Int {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw failure(.launchFailed, "socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw failure(.launchFailed, "bind 127.0.0.1:\(port)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
