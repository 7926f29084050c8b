import Foundation
import Logging
import Spool
import Subprocess

/// Where an `exec` handler program's stdout goes: to the worker's stderr, line by line.
///
/// In the `text` log format each line is written as it is. In `json` each line becomes a
/// record of its own (`"label":"spool.exec"`, the line as `msg`, the metadata of the job's
/// log lines and `"exec.stream":"stdout"`), so stderr stays one JSON object per line. Either way
/// a line is queued whole for the worker's one stderr writer thread (``StandardError``), so the
/// lines of programs running side by side, and the worker's own log lines, do not cut into
/// each other; when stderr is not read fast enough, whole lines are dropped (and counted)
/// rather than the handler waiting. The program's output is not Spool's log: `--log-level`
/// does not filter it.
struct ExecOutput: Sendable {
    let format: LogFormat

    /// A line longer than this is passed on in pieces of this size, so a program that never
    /// writes a newline costs the worker no more memory than this.
    static let maxLineBytes = 16 * 1024

    /// Passes on the program's stdout until it ends.
    func forward(_ stdout: SubprocessOutputSequence, _ context: JobContext) async throws {
        // the metadata of the job's own log lines (`JobContext.logger`), rendered once
        let logger = context.logger
        let metadata = ([("exec.stream", "stdout")] + logger.handler.metadata.map { ($0.key, "\($0.value)") })
            .sorted { $0.0 < $1.0 }
        var splitter = LineSplitter(maxLineBytes: Self.maxLineBytes)
        var piecing = Piecing()
        for try await buffer in stdout {
            buffer.withUnsafeBytes { bytes in
                splitter.feed(bytes) { write($0, ended: $1, metadata, &piecing) }
            }
        }
        splitter.finish { write($0, ended: $1, metadata, &piecing) }
    }

    /// In the `text` format, where an overlong line is passed on in pieces without newlines:
    /// whether a piece of the current line was passed on, or one was dropped (stderr's queue
    /// was full), so that its later pieces are dropped too and what was passed on gets its
    /// newline, rather than being continued by another line.
    private struct Piecing {
        var open = false
        var cut = false
    }

    private func write(_ line: ArraySlice<UInt8>, ended: Bool, _ metadata: [(String, String)], _ piecing: inout Piecing) {
        switch format {
        case .text:
            if piecing.cut {
                piecing.cut = !ended
                return
            }
            var bytes = Array(line)
            if ended { bytes.append(UInt8(ascii: "\n")) }
            if StandardError.write(bytes) {
                piecing.open = !ended
            } else {
                if piecing.open { StandardError.write([UInt8(ascii: "\n")], force: true) }
                piecing.open = false
                piecing.cut = !ended
            }
        case .json:
            let record = StderrLogHandler.jsonLine(
                time: StderrLogHandler.timestamp(), level: .info, label: "spool.exec",
                message: String(decoding: line, as: UTF8.self), metadata: metadata
            )
            StandardError.write(Array((record + "\n").utf8))
        }
    }
}

/// Cuts a byte stream into lines (without their `\n`), and a line longer than `maxLineBytes`
/// into pieces of that size.
struct LineSplitter {
    let maxLineBytes: Int
    private var pending: [UInt8] = []

    init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0)
        self.maxLineBytes = maxLineBytes
    }

    /// Calls `emit(line, ended)` for each line `bytes` completes (`ended`: a newline ended it)
    /// and for each full piece of an overlong line (`ended` false).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (ArraySlice<UInt8>, Bool) -> Void) {
        pending.append(contentsOf: bytes)
        var start = 0
        while start < pending.count {
            // a line of exactly maxLineBytes has its newline one byte further
            let window = start..<min(pending.count, start + maxLineBytes + 1)
            if let newline = pending[window].firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[start..<newline], true)
                start = newline + 1
            } else if window.count > maxLineBytes {
                emit(pending[start..<start + maxLineBytes], false)
                start += maxLineBytes
            } else {
                break
            }
        }
        pending.removeFirst(start)
    }

    /// At the end of the stream: the last line, if it had no newline, as an ended line.
    mutating func finish(_ emit: (ArraySlice<UInt8>, Bool) -> Void) {
        if !pending.isEmpty { emit(pending[...], true) }
        pending.removeAll()
    }
}
