import Foundation

/// One figure of `spool-bench all`: Spool's value beside its ceiling, and the target it must meet.
struct BenchRow: Encodable, Sendable {
    /// What was measured, e.g. `push, batches of 100`.
    var name: String
    /// The unit of `value` and `ceiling`: `jobs/s`, `µs`, `ms`, `MB`, `bytes/job`.
    var unit: String
    /// Spool's figure; `nil` when the measurement was skipped.
    var value: Double?
    /// The raw Redis figure it is compared with, if there is one.
    var ceiling: Double?
    /// How the ceiling was measured, e.g. `redis-benchmark -c 50 -P 1`.
    var ceilingSource: String?
    /// `value / ceiling` (for latencies: how many times the raw latency).
    var ratio: Double? {
        guard let value, let ceiling, ceiling > 0 else { return nil }
        return value / ceiling
    }
    /// The target the issue sets, if any.
    var bound: BenchTarget?
    /// The target as text (`>= 400000`, `< 100`).
    var target: String? { bound?.text }
    /// Whether `value` meets the target; `nil` without a target or a value.
    var met: Bool? {
        guard let value, let bound else { return nil }
        return bound.isMet(by: value)
    }
    /// Why the row has no value, or what else to know.
    var note: String?
    /// With more than one round (`--rounds`): each round's value, in order; `value` and
    /// `ceiling` are then the medians of the rounds.
    var rounds: [Double]?

    enum CodingKeys: String, CodingKey {
        case name, unit, value, ceiling, ceilingSource, ratio, target, met, note, rounds
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(unit, forKey: .unit)
        try container.encodeIfPresent(value, forKey: .value)
        try container.encodeIfPresent(ceiling, forKey: .ceiling)
        try container.encodeIfPresent(ceilingSource, forKey: .ceilingSource)
        try container.encodeIfPresent(ratio, forKey: .ratio)
        try container.encodeIfPresent(target, forKey: .target)
        try container.encodeIfPresent(met, forKey: .met)
        try container.encodeIfPresent(note, forKey: .note)
        try container.encodeIfPresent(rounds, forKey: .rounds)
    }
}

/// A target a row must meet.
enum BenchTarget: Sendable {
    case atLeast(Double)
    case below(Double)
    case atMost(Double)

    var text: String {
        switch self {
        case .atLeast(let bound): return ">= \(BenchReport.format(bound))"
        case .below(let bound): return "< \(BenchReport.format(bound))"
        case .atMost(let bound): return "<= \(BenchReport.format(bound))"
        }
    }

    func isMet(by value: Double) -> Bool {
        switch self {
        case .atLeast(let bound): return value >= bound
        case .below(let bound): return value < bound
        case .atMost(let bound): return value <= bound
        }
    }
}

/// Everything one `spool-bench all` run measured, printed as a table and written as JSON.
struct BenchReport: Encodable, Sendable {
    var date: String
    var revision: String?
    var quick: Bool
    var machine: String
    var redisVersion: String
    /// How many rounds the figures are the medians of (`--rounds`).
    var rounds = 1
    var rows: [BenchRow] = []

    mutating func add(
        _ name: String, _ value: Double?, unit: String, ceiling: Double? = nil, ceilingSource: String? = nil,
        target: BenchTarget? = nil, note: String? = nil
    ) {
        let row = BenchRow(
            name: name, unit: unit, value: value, ceiling: ceiling, ceilingSource: ceiling == nil ? nil : ceilingSource,
            bound: target, note: note
        )
        rows.append(row)
        print("  measured: \(Self.line(row))")
    }

    /// The rounds of one run (`--rounds`) as one report: each row's value and ceiling are the
    /// medians of its rounds (the targets are medians; `met` judges the median), and the
    /// rounds' values are kept in `rounds`. Each row of the first round is matched by name
    /// in the others (every round measures the same parts, so all rows match).
    /// `reports` must not be empty.
    static func medians(of reports: [BenchReport]) -> BenchReport {
        var merged = reports[0]
        if reports.count == 1 { return merged }
        merged.rounds = reports.count
        merged.rows = merged.rows.map { first in
            let same = reports.compactMap { report in report.rows.first { $0.name == first.name } }
            var row = first
            let values = same.compactMap(\.value)
            row.value = median(values)
            row.ceiling = median(same.compactMap(\.ceiling))
            row.rounds = values
            return row
        }
        return merged
    }

    /// The median: the middle value, or the mean of the two middle ones; `nil` for none.
    static func median(_ values: [Double]) -> Double? {
        if values.isEmpty { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The whole table, one row per line, after a header.
    var table: String {
        var lines = [
            "Spool \(revision ?? "") — \(machine), Redis \(redisVersion) on loopback, \(quick ? "--quick" : "full") run, "
                + (rounds > 1 ? "medians of \(rounds) rounds, " : "") + date,
            Self.pad("measurement", 44) + Self.pad("spool", 14, right: true) + "  " + Self.pad("ceiling", 14, right: true)
                + "  " + Self.pad("ratio", 6, right: true) + "  " + Self.pad("target", 12) + " met  ceiling source",
        ]
        lines.append(String(repeating: "-", count: lines[1].count + 20))
        for row in rows { lines.append(Self.line(row)) }
        return lines.joined(separator: "\n")
    }

    static func line(_ row: BenchRow) -> String {
        let value = row.value.map { format($0) + " " + row.unit } ?? "—"
        let ceiling = row.ceiling.map { format($0) + " " + row.unit } ?? ""
        let ratio = row.ratio.map { String(format: "%.2f", $0) } ?? ""
        let met = row.met.map { $0 ? "yes" : "NO " } ?? "   "
        var text = pad(row.name, 44) + pad(value, 14, right: true) + "  " + pad(ceiling, 14, right: true) + "  "
            + pad(ratio, 6, right: true) + "  " + pad(row.target ?? "", 12) + " " + met
        if let source = row.ceilingSource { text += "  " + source }
        if let note = row.note { text += "  (\(note))" }
        if let rounds = row.rounds { text += "  [rounds: " + rounds.map(format).joined(separator: " · ") + "]" }
        return text
    }

    /// Whole numbers with thousands separators; small values with up to 3 significant decimals.
    static func format(_ value: Double) -> String {
        if value.magnitude >= 1000 || value == value.rounded() && value.magnitude >= 10 {
            let digits = String(Int(value.rounded()))
            var result = ""
            for (index, character) in digits.reversed().enumerated() {
                if index > 0 && index % 3 == 0 && character != "-" { result.append(",") }
                result.append(character)
            }
            return String(result.reversed())
        }
        if value.magnitude >= 100 { return String(format: "%.0f", value) }
        if value.magnitude >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.3g", value)
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let count = text.count
        if count >= width { return text }
        let fill = String(repeating: " ", count: width - count)
        return right ? fill + text : text + fill
    }

    func writeJSON(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }
}
