import Foundation
import Spool

/// How times, ages and lag read in tables.
enum Formatting {
    /// Now in Unix milliseconds.
    static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// The Unix-millisecond times ISO 8601 writes with a four-digit year (0001-01-01 to
    /// 9999-12-31). A time outside is not one any client meant; it is shown as a number.
    static let timeRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// An age or a wait in seconds: `0.4s`, `3.4s`, `4m12s`, `2h05m`, `3d04h`; `?` from
    /// 10^15 s on (no two times in ``timeRange`` are that far apart), infinity included.
    static func span(seconds: Double) -> String {
        let value = max(0, seconds)
        guard value < 1e15 else { return "?" }
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

    /// How long ago a Unix-millisecond time was; `?` for a time outside ``timeRange``.
    static func age(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        guard timeRange.contains(millis) else { return "?" }
        // in Double, which cannot overflow as Int64 subtraction can
        return span(seconds: (Double(nowMillis()) - Double(millis)) / 1000)
    }

    /// A group's lag: `12 (3.4s)`; `?` for the count when Redis cannot tell.
    static func lag(_ group: GroupStatus) -> String {
        "\(group.lag.map(String.init) ?? "?") (\(span(seconds: group.lagSeconds)))"
    }

    /// A count and its noun, singular for one: `1 dead letter`, `3 dead letters`, `1 entry`,
    /// `2 entries` (`plural` defaults to `singular` + `s`).
    static func counted(_ count: Int, _ singular: String, plural: String? = nil) -> String {
        "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
    }

    /// `3 attempts`, `1 attempt`, or `? attempts` for a dead letter that does not say.
    static func attempts(_ count: Int?) -> String {
        count.map { counted($0, "attempt") } ?? "? attempts"
    }

    /// A Unix-millisecond time as ISO 8601 UTC with milliseconds; a time outside
    /// ``timeRange`` as its number, marked so.
    static func time(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        guard timeRange.contains(millis) else { return "\(millis) (Unix ms, not a time in years 1-9999)" }
        // the proleptic Gregorian calendar ISO 8601 counts in (Foundation's turns Julian before
        // October 1582), by Howard Hinnant's days-to-civil algorithm
        let days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let inDay = millis - days * 86_400_000
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return String(
            format: "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ", year, month, day,
            inDay / 3_600_000, inDay / 60_000 % 60, inDay / 1000 % 60, inDay % 1000
        )
    }

    /// A count read from the group's Spool keys: `-` for a group without them (a name that
    /// breaks Spool's rule, made by hand).
    static func spoolCount(_ group: GroupStatus, _ count: Int) -> String {
        group.hasValidName ? "\(count)" : "-"
    }

    /// What a group whose name breaks Spool's rule is shown with.
    static let invalidGroupNote = "not a Spool group name (made by hand): no retries, dead letters or done set"

    /// A time relative to now: `2024-… (in 3.0s)` or `2024-… (4.1s ago)`.
    static func relative(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        guard timeRange.contains(millis) else { return time(millis) }
        let delta = (Double(millis) - Double(nowMillis())) / 1000
        return time(millis) + (delta >= 0 ? " (in \(span(seconds: delta)))" : " (\(span(seconds: -delta)) ago)")
    }
}
