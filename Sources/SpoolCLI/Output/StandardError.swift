import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Every write of the CLI to stderr. None of them traps (Foundation's `FileHandle.write`
/// does on `EPIPE`, and SIGPIPE is ignored once a Redis client exists).
///
/// By default a line is written at once with `write(2)`, on the calling thread, and an error
/// is ignored: fine for commands that print a few lines. `spool worker` calls
/// ``startWriter(dropNotice:)`` first: from then on every line is queued for a
/// ``StderrWriter`` thread, so that a stderr nobody reads never blocks a task thread, and the
/// process flushes that queue (``flush(within:)``) before it exits.
enum StandardError {
    private static let writer = Mutex<StderrWriter?>(nil)

    /// How long an exiting process waits for queued lines to be written.
    static let exitFlushLimit: Duration = .milliseconds(1500)

    /// Sends every later line through a writer thread of its own (once per process). Also
    /// ignores SIGPIPE, so that a closed stderr is an `EPIPE` the writer handles, not death.
    static func startWriter(dropNotice: @escaping @Sendable (Int) -> [UInt8]) {
        _ = signal(SIGPIPE, SIG_IGN)
        writer.withLock { writer in
            if writer == nil { writer = StderrWriter(descriptor: STDERR_FILENO, dropNotice: dropNotice) }
        }
    }

    /// Writes (or queues) `bytes`, which should be whole lines. Returns `false` when the
    /// writer's queue was full and they were dropped (`force`: queued even then).
    @discardableResult
    static func write(_ bytes: some Collection<UInt8>, force: Bool = false) -> Bool {
        if let writer = writer.withLock({ $0 }) {
            return writer.enqueue(bytes, force: force)
        }
        _ = StderrWriter.writeAll(Array(bytes), to: STDERR_FILENO)
        return true
    }

    /// Writes (or queues) `line` and a newline, terminal-safe (``TerminalText``): an error
    /// message may quote names read from Redis (a hand-made group's, for one).
    static func writeLine(_ line: String) {
        write(Array((TerminalText.safe(line) + "\n").utf8))
    }

    /// Waits (at most `limit`) until the writer thread, if any, has written what is queued.
    static func flush(within limit: Duration = exitFlushLimit) {
        writer.withLock { $0 }?.flush(within: limit)
    }

    /// Flushes (with the bounded wait) and exits with `status`.
    static func exit(_ status: Int32) -> Never {
        flush()
        Foundation.exit(status)
    }
}
