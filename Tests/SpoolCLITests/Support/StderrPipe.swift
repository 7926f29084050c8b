import Foundation
import Synchronization
import SpoolTesting

/// A pipe to give a `spool` process as its stderr: the test holds the read end and decides
/// whether to read it, leave it unread (a stuck log shipper) or close it (a reader gone).
final class StderrPipe: Sendable {
    /// The end the process writes (pass it as `stderrDescriptor`, then ``closeWriteEnd()``).
    let writeEnd: Int32
    let readEnd: Int32
    private let closed = Mutex<(write: Bool, read: Bool)>((false, false))
    private let collected = Mutex<[UInt8]>([])
    private let reachedEnd = Atomic<Bool>(false)

    init() throws {
        var ends: [Int32] = [-1, -1]
        // close-on-exec from the start: a process another test spawns meanwhile must not hold
        // an end open (glibc's pipe2 is not imported into Swift, so it is looked up)
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { throw TestFailure("no pipe2") }
        let pipe2 = unsafeBitCast(symbol, to: Pipe2.self)
        guard pipe2(&ends, O_CLOEXEC) == 0 else { throw TestFailure("pipe2 failed: errno \(errno)") }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        closeWriteEnd()
        closeReadEnd()
    }

    /// Closes the test's copy of the write end (after the process has its own).
    func closeWriteEnd() {
        let first = closed.withLock { state in
            defer { state.write = true }
            return !state.write
        }
        if first { close(writeEnd) }
    }

    /// Closes the read end: the process's writes fail with EPIPE from now on.
    func closeReadEnd() {
        let first = closed.withLock { state in
            defer { state.read = true }
            return !state.read
        }
        if first { close(readEnd) }
    }

    /// Bytes written into the pipe and not read yet (`FIONREAD`).
    var unreadBytes: Int {
        var count: Int32 = 0
        return ioctl(readEnd, UInt(FIONREAD), &count) == 0 ? Int(count) : 0
    }

    /// Reads everything until end of file on a thread of its own (not the cooperative pool).
    func startReading() {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count > 0 {
                    collected.withLock { $0.append(contentsOf: buffer[0..<count]) }
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            reachedEnd.store(true, ordering: .sequentiallyConsistent)
        }
        thread.start()
    }

    /// What was read so far (bytes that are not UTF-8 as U+FFFD).
    var text: String { String(decoding: collected.withLock { $0 }, as: UTF8.self) }

    /// Whether the reader saw end of file: every holder of the write end is gone.
    var isAtEnd: Bool { reachedEnd.load(ordering: .sequentiallyConsistent) }
}

/// A TCP listener on 127.0.0.1 that accepts connections and reads what they send, but never
/// answers: a Redis that hangs.
final class SilentListener: Sendable {
    let port: Int
    private let socketDescriptor: Int32
    private let connections = Mutex<[Int32]>([])
    private let received = Mutex<Int>(0)

    init() throws {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard socketDescriptor >= 0 else { throw TestFailure("socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socketDescriptor, 16) == 0 else {
            close(socketDescriptor)
            throw TestFailure("bind/listen failed: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) }
        }
        self.socketDescriptor = socketDescriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        connections.withLock { $0.forEach { close($0) } }
        close(socketDescriptor)
    }

    /// Accepts waiting connections and reads what they sent; returns the bytes received so far
    /// over all connections (a client's first command, once it has sent one).
    func poll() -> Int {
        while true {
            let connection = acceptClosingOnExec(socketDescriptor)
            guard connection >= 0 else { break }
            _ = fcntl(connection, F_SETFL, fcntl(connection, F_GETFL) | O_NONBLOCK)
            connections.withLock { $0.append(connection) }
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for connection in connections.withLock({ $0 }) {
            while true {
                let count = recv(connection, &buffer, buffer.count, 0)
                guard count > 0 else { break }
                received.withLock { $0 += count }
            }
        }
        return received.withLock { $0 }
    }
}
