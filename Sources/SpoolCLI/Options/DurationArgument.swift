import ArgumentParser

extension Duration {
    /// The duration in seconds, with its fraction.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// A duration given as `250ms`, `5s`, `2m`, `1h` (a bare number means seconds), at most
/// ``maxSeconds`` (about 100 years: beyond that the milliseconds overflow `Int64` arithmetic
/// elsewhere, and no queue setting means it).
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration

    static let maxSeconds: Double = 100 * 365 * 86_400

    /// What a duration looks like, for an error about one.
    static let formatHint = "a duration is a number with ms, s, m or h (a bare number is seconds), e.g. 250ms, 30s, 5m, 1h; from 0 to 100 years"

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(argument)
        var scale = 1.0
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            number = argument.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), let duration = Self.duration(seconds: value * scale) else { return nil }
        self.duration = duration
    }

    /// `seconds` as a duration in whole milliseconds; `nil` when negative, not finite or
    /// beyond ``maxSeconds``.
    static func duration(seconds: Double) -> Duration? {
        guard seconds >= 0, seconds <= maxSeconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    var description: String {
        let (seconds, attos) = duration.components
        let millis = seconds * 1000 + attos / 1_000_000_000_000_000
        return millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms"
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
