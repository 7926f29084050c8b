import Foundation
import Spool

/// How times, ages and lag read in tables.
enum Formatting {
    /// Now in Unix milliseconds.
    static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// An age or a wait in seconds: `0.4s`, `3.4s`, `4m12s`, `2h05m`, `3d04h`.
    static func span(seconds: Double) -> String {
        let value = max(0, seconds)
        if value < 60 { return String(format: "%.1fs", value) }
        let whole = Int(value)
        if whole < 3600 { return "\(whole / 60)m" + String(format: "%02ds", whole % 60) }
        if whole < 86_400 { return "\(whole / 3600)h" + String(format: "%02dm", whole % 3600 / 60) }
        return "\(whole / 86_400)d" + String(format: "%02dh", whole % 86_400 / 3600)
    }

    /// A span in milliseconds.
    static func span(milliseconds: Int) -> String {
        span(seconds: Double(milliseconds) / 1000)
    }

    /// How long ago a Unix-millisecond time was.
    static func age(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        return span(seconds: Double(nowMillis() - millis) / 1000)
    }

    /// A group's lag: `12 (3.4s)`; `?` for the count when Redis cannot tell.
    static func lag(_ group: GroupStatus) -> String {
        "\(group.lag.map(String.init) ?? "?") (\(span(seconds: group.lagSeconds)))"
    }

    /// A Unix-millisecond time as ISO 8601 UTC with milliseconds.
    static func time(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// A time relative to now: `2024-… (in 3.0s)` or `2024-… (4.1s ago)`.
    static func relative(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        let delta = Double(millis - nowMillis()) / 1000
        return time(millis) + (delta >= 0 ? " (in \(span(seconds: delta)))" : " (\(span(seconds: -delta)) ago)")
    }
}
