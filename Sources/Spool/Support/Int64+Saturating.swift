extension Int64 {
    /// `value` rounded toward zero and limited to `Int64`'s range (infinities included); 0 for
    /// NaN. For numbers another client wrote, where `Int64(_:)` would trap.
    init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 0x1p63 {
            self = .max
        } else if value <= -0x1p63 {
            self = .min
        } else {
            self = Int64(value)
        }
    }
}
