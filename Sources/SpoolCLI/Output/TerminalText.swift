/// Text for an operator's terminal, from values anyone may have written: a payload, a job's
/// type, a handler's error text, a consumer or group name made by hand.
///
/// Such a value can hold an escape sequence (`ESC ]0;…BEL` retitles a window, `ESC [2J` clears
/// the screen, a carriage return overwrites what a line said). Here every C0 control but the
/// line feed and the tab, DEL and the C1 controls are written as `\u` escapes (`\u001b`,
/// `\u000d`); everything else, backslashes included, stays as it is. The `--json` documents
/// are escaped by JSON itself, and DEL and C1 by ``JSONOutput``.
enum TerminalText {
    static func safe(_ text: String) -> String {
        escaping(text) { isControl($0) && $0 != "\n" && $0 != "\t" }
    }

    /// A C0 control, DEL or a C1 control.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// `text` with the scalars `needsEscape` picks written as `\u` and four hex digits.
    static func escaping(_ text: String, where needsEscape: (Unicode.Scalar) -> Bool) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// `Swift.print` with ``TerminalText/safe(_:)`` applied: every text line a command prints
/// goes through here, so no command can pass a stored value's escape sequence to a terminal.
/// (`JSONOutput` and the watch frames write through `StandardOutput`; the watch's cells are
/// made safe in ``Table``, and stderr's lines in `StandardError.writeLine`.)
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Swift.print(TerminalText.safe(items.map { "\($0)" }.joined(separator: separator)), terminator: terminator)
}
