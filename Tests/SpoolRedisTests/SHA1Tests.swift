import Testing

@testable import SpoolRedis

@Suite struct SHA1Tests {
    /// FIPS 180-2 appendix A vectors plus the empty message.
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        ),
    ])
    func fipsVectors(message: String, digest: String) {
        #expect(SHA1.hexDigest(Array(message.utf8)) == digest)
        #expect(SHA1.hexDigest(message.utf8) == digest)
    }

    @Test func oneMillionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA1.hexDigest(message) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// Computed with: printf 'return 1' | sha1sum
    @Test func luaScriptMatchesSha1sum() {
        #expect(SHA1.hexDigest(Array("return 1".utf8)) == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    /// Lengths around the 55/56/64-byte padding boundaries, checked against sha1sum:
    /// for n in 55 56 63 64 65 119 120; do head -c $n /dev/zero | tr '\0' x | sha1sum; done
    @Test(arguments: [
        (55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1"),
        (56, "901305367c259952f4e7af8323f480d59f81335b"),
        (63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec"),
        (64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163"),
        (65, "78c741ddc482e4cdf8c474a0876347a0905b6233"),
        (119, "4300320394f7ee239bcdce7d3b8bcee173a0cd5c"),
        (120, "ceb2821639c4b6dcb10bce0e522ca2e608ce056d"),
    ])
    func paddingBoundaries(length: Int, digest: String) {
        let message = [UInt8](repeating: UInt8(ascii: "x"), count: length)
        #expect(SHA1.hexDigest(message) == digest)
    }
}
