#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A TCP proxy on 127.0.0.1 that adds latency each way: a slow link for tests, where
/// `tc netem` is not available.
///
/// Every chunk read from one side is written to the other no earlier than a random delay in
/// ``delay`` after it arrived, and never before an earlier chunk (bytes stay in order, as on
/// a real link; jitter does not reorder). Throughput is not limited: chunks in flight overlap.
/// Plain blocking sockets, two threads per direction of each connection. ``stop()`` shuts
/// every socket down; the threads then end and close them.
public final class DelayProxy: Sendable {
    /// The port it listens on (127.0.0.1).
    public let port: Int
    /// The added one-way delay range.
    public let delay: ClosedRange<Duration>
    /// `redis://127.0.0.1:<port>`: where a client reaches the target through the proxy.
    public var url: String { "redis://127.0.0.1:\(port)" }

    private let listener: Int32
    private let sockets = Mutex<Set<Int32>>([])
    private let stopped = Atomic<Bool>(false)
    private let accepted = Atomic<Int>(0)

    /// How many client connections it accepted and connected to the target so far: a test
    /// can wait for a client's connect to be under way rather than sleep and hope.
    public var acceptedConnections: Int { accepted.load(ordering: .acquiring) }

    /// Starts proxying 127.0.0.1:`port` (a free one) to `host`:`targetPort`.
    public init(targetHost host: String, targetPort: Int, delay: ClosedRange<Duration>) throws(RedisServerError) {
        self.delay = delay
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RedisServerError(code: .launchFailed, message: "proxy socket failed") }
        var address = Self.address(host: "127.0.0.1", port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 && listen(fd, 128) == 0
            }
        }
        guard listening else {
            close(fd)
            throw RedisServerError(code: .launchFailed, message: "proxy bind/listen failed: \(String(cString: strerror(errno)))")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let target = Self.address(host: host, port: targetPort)
        Thread.detachNewThread { [self] in acceptLoop(target: target) }
    }

    /// Stops accepting and shuts every proxied connection down.
    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        _ = shutdown(listener, Int32(SHUT_RDWR))
        sockets.withLock { open in
            for fd in open { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    deinit {
        stop()
    }

    private func acceptLoop(target: sockaddr_in) {
        while !stopped.load(ordering: .relaxed) {
            let client = acceptClosingOnExec(listener)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = target
            let connected = server >= 0 && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected, track(client, server) else {
                close(client)
                if server >= 0 { close(server) }
                continue
            }
            accepted.add(1, ordering: .releasing)
            var one: Int32 = 1
            for fd in [client, server] { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
            // Both directions share the two descriptors; the last of the four threads closes them.
            let remaining = Atomic<Int>(4)
            let finish: @Sendable () -> Void = { [self] in
                if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    sockets.withLock { open in
                        open.remove(client)
                        open.remove(server)
                    }
                    close(client)
                    close(server)
                }
            }
            for (source, destination) in [(client, server), (server, client)] {
                let queue = DelayQueue()
                Thread.detachNewThread { [self] in
                    pump(from: source, into: queue)
                    finish()
                }
                Thread.detachNewThread {
                    queue.drain(into: destination)
                    _ = shutdown(source, Int32(SHUT_RD))
                    finish()
                }
            }
        }
        close(listener)
    }

    /// Registers a connection's sockets so ``stop()`` can shut them; `false` once stopped.
    private func track(_ client: Int32, _ server: Int32) -> Bool {
        sockets.withLock { open in
            guard !stopped.load(ordering: .relaxed) else { return false }
            open.insert(client)
            open.insert(server)
            return true
        }
    }

    /// Reads chunks from `fd` and queues each with its due time, until EOF or an error.
    private func pump(from fd: Int32, into queue: DelayQueue) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let low = Self.nanoseconds(delay.lowerBound), high = Self.nanoseconds(delay.upperBound)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            queue.push(Array(buffer[0..<count]), after: UInt64.random(in: low...high))
        }
        queue.finish()
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration / .nanoseconds(1)))
    }

    private static func address(host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
        _ = inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }
}

/// The chunks of one direction in flight, each with the monotonic time it is due.
///
/// `@unchecked Sendable`: every field is read and written only under `condition`.
private final class DelayQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var chunks: [(due: UInt64, bytes: [UInt8])] = []
    private var head = 0
    private var ended = false
    private var lastDue: UInt64 = 0

    /// Queues `bytes`, due `delay` ns from now but not before the previous chunk.
    func push(_ bytes: [UInt8], after delay: UInt64) {
        condition.lock()
        lastDue = max(lastDue, DispatchTime.now().uptimeNanoseconds + delay)
        chunks.append((lastDue, bytes))
        condition.signal()
        condition.unlock()
    }

    /// No more chunks will come.
    func finish() {
        condition.lock()
        ended = true
        condition.signal()
        condition.unlock()
    }

    /// Writes each chunk to `fd` when due; returns after the last one or a write error.
    func drain(into fd: Int32) {
        while let (due, bytes) = next() {
            let now = DispatchTime.now().uptimeNanoseconds
            if due > now { usleep(useconds_t((due - now) / 1_000)) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    _ = shutdown(fd, Int32(SHUT_RDWR))
                    return
                }
                offset += written
            }
        }
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    private func next() -> (UInt64, [UInt8])? {
        condition.lock()
        defer { condition.unlock() }
        while head == chunks.count && !ended { condition.wait() }
        guard head < chunks.count else { return nil }
        let chunk = chunks[head]
        head += 1
        if head > 1_024 {
            chunks.removeFirst(head)
            head = 0
        }
        return chunk
    }
}
