import Foundation
import Synchronization

/// An append-only text file of history lines, written with one `write(2)` per line under
/// `O_APPEND`, so concurrent writers (threads or processes) never interleave and a line
/// written before a SIGKILL is kept.
public final class HistoryLog: Sendable {
    /// The file's path.
    public let path: String
    private let descriptor: Mutex<Int32>

    /// Opens (creating) the file at `path` for appending.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw FaultsError("cannot open \(path): errno \(errno)") }
        self.path = path
        self.descriptor = Mutex(fd)
    }

    deinit {
        descriptor.withLock { _ = close($0) }
    }

    /// Appends one line (a newline is added).
    public func append(_ line: String) {
        descriptor.withLock { fd in
            _ = (line + "\n").utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        }
    }

    /// Every line of the file at `path`, split into space-separated words; a torn last line
    /// (no newline: its writer was killed mid-write) is dropped.
    public static func records(at path: String) -> [[Substring]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var text = String(decoding: data, as: UTF8.self)
        if !text.hasSuffix("\n"), let lastNewline = text.lastIndex(of: "\n") {
            text = String(text[...lastNewline])
        } else if !text.hasSuffix("\n") {
            return []
        }
        return text.split(separator: "\n").map { $0.split(separator: " ") }
    }
}

/// Unix time in milliseconds.
func nowMillis() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}

/// A fault-suite error: a message saying what went wrong.
public struct FaultsError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}
