import Foundation
import Synchronization

/// A job's unique, time-ordered id: a UUIDv7 (RFC 9562) such as
/// `0190ff3c-5e4a-7b21-9c3d-4e5f60718293`.
///
/// The first 48 bits are the creation time in Unix milliseconds, so sorting ids — as values
/// or as canonical strings — sorts jobs by creation time. Ids made by one process are strictly
/// increasing, even within one millisecond.
public struct JobID: Sendable, Hashable, Comparable {
    /// Bits 0–63: the timestamp, the version and the 12-bit `rand_a` counter.
    let high: UInt64
    /// Bits 64–127: the variant and 62 random bits (`rand_b`).
    let low: UInt64

    /// Creates an id from its two 64-bit halves, most significant first.
    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates a new UUIDv7 from the system clock and random number generator, greater than every
    /// id this process made before.
    ///
    /// The random bits come from a fast generator seeded once from the system's (a
    /// `getrandom` call per id cost more than the rest of a push): ids are unique and
    /// unpredictable enough to name jobs, not secrets.
    public init() {
        let now = Self.currentMillis()
        self = Self.generator.withLock { generator in
            let entropy = (generator.random.next(), generator.random.next())
            return generator.next(nowMillis: now, entropy: entropy)
        }
    }

    /// The creation time in Unix milliseconds (the first 48 bits; meaningful for UUIDv7 ids).
    public var timestamp: Int64 {
        Int64(high >> 16)
    }

    /// The UUID version in bits 48–51: 7 for ids made by Spool.
    public var version: Int {
        Int((high >> 12) & 0xF)
    }

    /// Orders ids by their 128 bits, which for UUIDv7 is creation order.
    public static func < (lhs: JobID, rhs: JobID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The process-wide generator that keeps ids monotonic.
    private static let generator = Mutex(JobIDGenerator())

    /// Milliseconds since the Unix epoch from the system clock.
    @usableFromInline
    static func currentMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

/// The state that makes UUIDv7s monotonic (RFC 9562 §6.2, method 1: a 12-bit counter in
/// `rand_a`, seeded randomly with its top bit clear each new millisecond).
///
/// If the counter overflows, or the clock steps back, the timestamp runs ahead of the clock
/// by a millisecond at a time, so ids never go backwards.
struct JobIDGenerator: Sendable {
    /// The timestamp of the last id made.
    private(set) var lastMillis: UInt64 = 0
    /// The `rand_a` counter of the last id made.
    private(set) var counter: UInt16 = 0
    /// Whether an id was made yet.
    private var started = false
    /// Random bits for ids, seeded from the system generator.
    var random = Xoshiro256()

    /// The largest timestamp UUIDv7 can hold (48 bits).
    static let maxMillis: UInt64 = (1 << 48) - 1

    /// Makes the next id for the clock reading `nowMillis`, taking random bits from `entropy`.
    mutating func next(nowMillis: Int64, entropy: (UInt64, UInt64)) -> JobID {
        let now = UInt64(clamping: nowMillis) & Self.maxMillis
        if !started || now > lastMillis {
            started = true
            lastMillis = now
            counter = UInt16(truncatingIfNeeded: entropy.1) & 0x07FF
        } else if counter < 0x0FFF {
            counter += 1
        } else {
            lastMillis = (lastMillis + 1) & Self.maxMillis
            counter = UInt16(truncatingIfNeeded: entropy.1) & 0x07FF
        }
        let high = lastMillis << 16 | 0x7000 | UInt64(counter)
        let low = entropy.0 & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
        return JobID(high: high, low: low)
    }
}

/// xoshiro256** (Blackman and Vigna), seeded from `SystemRandomNumberGenerator`.
struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        repeat {
            state = (system.next(), system.next(), system.next(), system.next())
        } while state == (0, 0, 0, 0)
    }

    mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}
