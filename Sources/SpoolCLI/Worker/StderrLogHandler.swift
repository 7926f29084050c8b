import ArgumentParser
import Foundation
import Logging

/// How `spool worker` writes its logs on stderr.
enum LogFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `2024-05-01T12:00:00.123Z info spool.worker: message key=value ...`
    case text
    /// One JSON object per line: `ts`, `level`, `label`, `msg`, then the metadata keys.
    case json
}

/// A swift-log handler writing one line per message to stderr, as text or JSON (through
/// ``StandardError``: in the worker, queued for its writer thread).
struct StderrLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let line = Self.line(
            format: format, level: event.level, label: label, message: "\(event.message)",
            metadata: all.keys.sorted().map { ($0, "\(all[$0]!)") }
        )
        StandardError.write(Array((line + "\n").utf8))
    }

    /// One log line in `format`, without the newline, stamped with the current time.
    static func line(
        format: LogFormat, level: Logger.Level, label: String, message: String, metadata: [(String, String)]
    ) -> String {
        let time = timestamp()
        switch format {
        case .text:
            var line = "\(time) \(level) \(label): \(textMessage(message))"
            for (key, value) in metadata {
                line += " \(key)=\(textValue(value))"
            }
            return line
        case .json:
            return jsonLine(time: time, level: level, label: label, message: message, metadata: metadata)
        }
    }

    /// One record of the `json` format, without the newline: `ts`, `level`, `label`, `msg`,
    /// then `metadata` in its order.
    static func jsonLine(
        time: String, level: Logger.Level, label: String, message: String, metadata: [(String, String)]
    ) -> String {
        var line = "{\"ts\":\(json(time)),\"level\":\(json("\(level)")),\"label\":\(json(label)),\"msg\":\(json(message))"
        for (key, value) in metadata {
            line += ",\(json(key)):\(json(value))"
        }
        return line + "}"
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// A value as written, or quoted and escaped (as a JSON string) when it holds what would
    /// let it pass for more than one value or break the line: a space, `=`, `"`, `\\`, a control
    /// character (a job's type or an error text can hold any, ESC included) or a line separator.
    /// Job types and error texts come from producers and handlers.
    private static func textValue(_ value: String) -> String {
        value.unicodeScalars.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || needsEscape($0) })
            ? json(value) : value
    }

    /// The message with its control characters escaped as in JSON (without quotes): it stays one
    /// line and sends no escape sequence to a terminal.
    private static func textMessage(_ message: String) -> String {
        guard message.unicodeScalars.contains(where: needsEscape) else { return message }
        return String(json(message).dropFirst().dropLast())
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// `value` as a JSON string literal.
    static func json(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar):
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
