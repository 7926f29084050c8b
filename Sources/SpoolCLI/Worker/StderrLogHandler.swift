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
            var line = "\(time) \(level) \(label): \(message)"
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

    private static func textValue(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline }) ? json(value) : value
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
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
