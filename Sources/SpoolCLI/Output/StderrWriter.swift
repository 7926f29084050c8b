import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes to a file descriptor (stderr) from one thread of its own, so that no caller ever
/// blocks on it or crashes because of it.
///
/// Callers queue whole lines (``enqueue(_:)`` never blocks beyond a short lock). The thread
/// writes them with `write(2)`, retrying on `EINTR`, waiting with `poll(2)` on `EAGAIN` and
/// continuing after partial writes. When the queue is full (stderr is a pipe nobody drains)
/// whole lines are dropped and counted, and once a write succeeds again one line says how many
/// (``dropNotice``). On `EPIPE` or `EBADF` stderr is gone: everything is discarded from then
/// on. The worker's log lines and its exec handlers' output all go through one writer, so
/// lines never cut into each other, whatever their length.
final class StderrWriter: Sendable {
    /// Bytes held at once by default (queued plus being written).
    static let defaultCapacity = 4 * 1024 * 1024

    private let descriptor: Int32
    private let queue: Mutex<StderrQueue>
    // Dispatch's semaphore is thread-safe; it only wakes the writer thread
    private let wake = DispatchSemaphore(value: 0)
    /// The line (newline included) reporting `n` dropped lines.
    private let dropNotice: @Sendable (Int) -> [UInt8]

    /// Starts the writer thread for `descriptor`.
    init(descriptor: Int32, capacity: Int = defaultCapacity, dropNotice: @escaping @Sendable (Int) -> [UInt8]) {
        self.descriptor = descriptor
        self.queue = Mutex(StderrQueue(capacity: capacity))
        self.dropNotice = dropNotice
        let thread = Thread { [self] in self.drain() }
        thread.name = "spool-stderr"
        thread.start()
    }

    /// Queues `line` (a whole line, its newline included), or drops it when the queue is full
    /// (unless `force`). Returns whether it was queued.
    @discardableResult
    func enqueue(_ line: some Collection<UInt8>, force: Bool = false) -> Bool {
        let pushed = queue.withLock { $0.push(line, force: force) }
        if pushed.wake { wake.signal() }
        return pushed.queued
    }

    /// Waits until everything queued is written, stderr is gone, or `limit` has passed.
    /// Returns whether everything was written (or discarded).
    @discardableResult
    func flush(within limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while true {
            if queue.withLock({ $0.isDrained }) { return true }
            if ContinuousClock.now >= deadline { return false }
            usleep(2_000)
        }
    }

    /// The writer thread: waits for lines and writes them, forever.
    private func drain() {
        while true {
            wake.wait()
            while let batch = queue.withLock({ $0.take() }) {
                switch Self.writeAll(batch, to: descriptor) {
                case .written:
                    let dropped = queue.withLock { $0.finished(batch.count) }
                    if dropped > 0 { report(dropped) }
                case .failed:
                    // this batch is lost (a full disk, an I/O error); later lines may get through
                    let lost = batch.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                    _ = queue.withLock { $0.finished(batch.count, lost: lost) }
                case .gone:
                    queue.withLock { $0.breakDown() }
                }
            }
        }
    }

    /// Writes the dropped-lines notice; a failure is handled as for any batch.
    private func report(_ dropped: Int) {
        switch Self.writeAll(dropNotice(dropped), to: descriptor) {
        case .written: break
        case .failed: _ = queue.withLock { $0.finished(0, lost: dropped) }
        case .gone: queue.withLock { $0.breakDown() }
        }
    }

    enum Outcome {
        /// Every byte was written.
        case written
        /// A write error that may pass (`ENOSPC`, `EIO`, …): the rest was not written.
        case failed
        /// The descriptor is closed or its reader is gone (`EPIPE`, `EBADF`): it never will be.
        case gone
    }

    /// Writes all of `bytes` to `descriptor` with `write(2)`, blocking the calling thread as
    /// long as that takes: retries on `EINTR`, waits with `poll(2)` on `EAGAIN` (a
    /// non-blocking descriptor), continues after a partial write. Never traps.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Outcome {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written >= 0 {
                    offset += written
                    continue
                }
                switch errno {
                case EINTR:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, 1000)
                case EPIPE, EBADF:
                    return .gone
                default:
                    return .failed
                }
            }
            return .written
        }
    }
}
