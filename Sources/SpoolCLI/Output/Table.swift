import Foundation

/// A plain-text table: a header row, left-aligned text and right-aligned numbers, two spaces
/// between columns, cells cut with `…` at a column's maximum width.
struct Table {
    struct Column {
        var title: String
        var alignRight: Bool = false
        var maxWidth: Int = 40
    }

    var columns: [Column]
    var rows: [[String]] = []

    init(_ columns: [Column]) {
        self.columns = columns
    }

    mutating func append(_ row: [String]) {
        rows.append(row)
    }

    /// The rendered lines, without trailing spaces.
    func render(indent: String = "") -> String {
        let cells = ([columns.map(\.title)] + rows).map { row in
            row.enumerated().map { index, cell in Self.cut(cell, to: columns[index].maxWidth) }
        }
        var widths = columns.map { _ in 0 }
        for row in cells {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return cells.map { row in
            var line = indent
            for (index, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                if index > 0 { line += "  " }
                line += columns[index].alignRight ? padding + cell : cell + padding
            }
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// `text` on one line (line feeds as spaces), terminal-safe (``TerminalText``), cut to `width`.
    static func cut(_ text: String, to width: Int) -> String {
        // (line feeds by scalar: a `\r\n` is one Character, which a search for "\n" can miss)
        let single = String(String.UnicodeScalarView(text.unicodeScalars.lazy.map { $0 == "\n" ? " " : $0 }))
        let safe = TerminalText.safe(single)
        guard safe.count > width else { return safe }
        guard width > 1 else { return width == 1 ? "…" : "" }
        // cut whole characters of the stored text, each as wide as it prints: an escape
        // (`\u001b`) is kept whole or left out, never cut after its `\u`
        var kept = ""
        var shown = 0
        for character in single {
            let printed = TerminalText.safe(String(character))
            if shown + printed.count > width - 1 { break }
            kept += printed
            shown += printed.count
        }
        return kept + "…"
    }
}
