import ArgumentParser

/// Checks for the text options that take a value starting with `-` (`parsing: .unconditional`,
/// so that `--data -5` or `--type -x` work): one left without its value took the next flag as
/// its value, which this refuses.
enum OptionValue {
    /// Throws (exit 64) when `value`, given to `flag`, is another option's name (starts with `--`).
    static func refuseOptionName(_ value: String?, for flag: String) throws {
        guard let value, value.hasPrefix("--") else { return }
        throw ValidationError("\(flag) lacks a value: it was followed by \(value) (give \(flag) a value, e.g. \(flag) name)")
    }
}
