import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The CLI's direct writes to stdout (the `--json` documents, enqueued ids, watch frames).
///
/// Foundation's `FileHandle.write` traps on `EPIPE`, which a write gets once stdout's reader
/// is gone (`spool queues --json | head -1`) because SIGPIPE is ignored once a Redis client
/// exists. Here a gone reader ends the process as it ends any Unix tool that writes to a
/// closed pipe: by SIGPIPE (status 141 in a shell), with no trap and no backtrace.
enum StandardOutput {
    /// Writes all of `bytes` with `write(2)` (unbuffered, as `FileHandle.write` was).
    static func write(_ bytes: some Collection<UInt8>) {
        switch StderrWriter.writeAll(Array(bytes), to: STDOUT_FILENO) {
        case .written, .failed:
            return
        case .gone:
            readerGone()
        }
    }

    /// Ends the process as a Unix tool ends when its stdout's reader is gone: by SIGPIPE.
    static func readerGone() -> Never {
        StandardError.flush()
        _ = signal(SIGPIPE, SIG_DFL)
        _ = raise(SIGPIPE)
        Foundation.exit(141)
    }
}
