/// Redis Cluster's key → hash slot function: CRC16 (XMODEM) of the key's hash tag, mod 16384.
///
/// As specified in the Redis Cluster specification ("Keys distribution model"): when the key
/// contains `{`, a later `}` and at least one byte between them, only those bytes (the hash
/// tag, e.g. `Q` in `spool:{Q}:stream`) are hashed; otherwise the whole key is.
public enum RedisHashSlot {
    /// The number of hash slots in a Redis Cluster: 16384.
    public static let count = 16384

    /// The hash slot of `key`, in `0..<16384`.
    public static func of(_ key: String) -> Int {
        var key = key
        return key.withUTF8 { of(bytes: $0) }
    }

    /// The hash slot of a binary key.
    public static func of(bytes key: some Collection<UInt8>) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return Int(CRC16.xmodem(key[afterOpen..<close]) & 0x3FFF)
            }
        }
        return Int(CRC16.xmodem(key) & 0x3FFF)
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection), the CRC Redis Cluster uses.
package enum CRC16 {
    private static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }

    /// The CRC of `bytes`; `xmodem("123456789".utf8)` is `0x31C3`.
    package static func xmodem(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
            }
        }
        return crc
    }
}
