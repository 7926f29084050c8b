/// SHA-1 (FIPS 180-4), used only to name Lua scripts for EVALSHA the way Redis does
/// (`SCRIPT LOAD` returns the same digest). Not for security.
package enum SHA1 {
    /// The digest of `bytes` as 40 lowercase hex characters.
    package static func hexDigest(_ bytes: some Collection<UInt8>) -> String {
        let words = digest(bytes)
        var hex = ""
        hex.reserveCapacity(40)
        let digits = Array("0123456789abcdef".unicodeScalars)
        for word in words {
            for shift in stride(from: 28, through: 0, by: -4) {
                hex.unicodeScalars.append(digits[Int((word >> UInt32(shift)) & 0xF)])
            }
        }
        return hex
    }

    /// The digest of `bytes` as five big-endian 32-bit words.
    static func digest(_ bytes: some Collection<UInt8>) -> [UInt32] {
        var state: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var block = [UInt8]()
        block.reserveCapacity(64)
        for byte in bytes {
            block.append(byte)
            if block.count == 64 {
                compress(block, into: &state)
                block.removeAll(keepingCapacity: true)
            }
        }
        // Padding: 0x80, zeros to 56 mod 64, then the message length in bits, big-endian.
        let bitLength = UInt64(truncatingIfNeeded: bytes.count) &* 8
        block.append(0x80)
        if block.count > 56 {
            block.append(contentsOf: repeatElement(0, count: 64 - block.count))
            compress(block, into: &state)
            block.removeAll(keepingCapacity: true)
        }
        block.append(contentsOf: repeatElement(0, count: 56 - block.count))
        for shift in stride(from: 56, through: 0, by: -8) {
            block.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        compress(block, into: &state)
        return state
    }

    /// Processes one 64-byte block.
    private static func compress(_ block: [UInt8], into state: inout [UInt32]) {
        var w = [UInt32](repeating: 0, count: 80)
        for t in 0..<16 {
            w[t] = UInt32(block[4 * t]) << 24 | UInt32(block[4 * t + 1]) << 16
                | UInt32(block[4 * t + 2]) << 8 | UInt32(block[4 * t + 3])
        }
        for t in 16..<80 {
            w[t] = rotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], by: 1)
        }
        var (a, b, c, d, e) = (state[0], state[1], state[2], state[3], state[4])
        for t in 0..<80 {
            let f: UInt32
            let k: UInt32
            switch t {
            case 0..<20:
                f = (b & c) | (~b & d)
                k = 0x5A82_7999
            case 20..<40:
                f = b ^ c ^ d
                k = 0x6ED9_EBA1
            case 40..<60:
                f = (b & c) | (b & d) | (c & d)
                k = 0x8F1B_BCDC
            default:
                f = b ^ c ^ d
                k = 0xCA62_C1D6
            }
            let temp = rotateLeft(a, by: 5) &+ f &+ e &+ k &+ w[t]
            (e, d, c, b, a) = (d, c, rotateLeft(b, by: 30), a, temp)
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
    }

    private static func rotateLeft(_ value: UInt32, by amount: UInt32) -> UInt32 {
        value << amount | value >> (32 - amount)
    }
}
