import Testing

@testable import Spool

/// ``HeartbeatWatch``: when a worker may take another's lapsed heartbeat to mean it is gone.
@Suite struct HeartbeatWatchTests {
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    /// Writes every `interval` seconds from `from` up to `to` (each answered 10 ms after it was sent).
    func beat(_ watch: inout HeartbeatWatch, from: Double, to: Double, every interval: Double = 1) {
        var time = from
        while time <= to {
            watch.written(sentAt: at(time), now: at(time + 0.01))
            time += interval
        }
    }

    @Test("a new worker reclaims only after writing its heartbeat for a TTL")
    func newWorkerWaitsATTL() {
        var watch = HeartbeatWatch(ttl: .seconds(5), interval: .seconds(1))
        #expect(!watch.allowsReclaim(now: at(0)))
        beat(&watch, from: 0, to: 4)
        #expect(!watch.allowsReclaim(now: at(4.5)))
        beat(&watch, from: 5, to: 5)
        #expect(watch.allowsReclaim(now: at(5.02)))
    }

    @Test("a failed write or two between good ones is no gap; a gap near the TTL stops reclaims for a TTL")
    func gaps() {
        var watch = HeartbeatWatch(ttl: .seconds(5), interval: .seconds(1))
        beat(&watch, from: 0, to: 10)
        #expect(watch.allowsReclaim(now: at(10.5)))
        // the writes at 11, 12 failed: 3 s apart, under the 4 s gap
        beat(&watch, from: 13, to: 13)
        #expect(watch.allowsReclaim(now: at(13.5)))
        // Redis away from 14 to 20: no reclaim while no write comes, nor for a TTL after
        #expect(!watch.allowsReclaim(now: at(17.1)), "4 s since the last write")
        beat(&watch, from: 19, to: 24)
        #expect(!watch.allowsReclaim(now: at(23.5)))
        #expect(watch.allowsReclaim(now: at(24.02)))
    }

    @Test("a write whose reply took most of a TTL (a cluster's retries) counts as a gap")
    func slowWrite() {
        var watch = HeartbeatWatch(ttl: .seconds(5), interval: .seconds(1))
        beat(&watch, from: 0, to: 10)
        watch.written(sentAt: at(11), now: at(15))
        #expect(!watch.allowsReclaim(now: at(15.5)))
        // (that write may have landed at 11: the next one, at 16, may come after the key lapsed)
        beat(&watch, from: 16, to: 21)
        #expect(!watch.allowsReclaim(now: at(20.5)))
        #expect(watch.allowsReclaim(now: at(21.02)))
    }

    @Test("writes an interval apart are never a gap, even with the interval close to the TTL")
    func longInterval() {
        var watch = HeartbeatWatch(ttl: .seconds(5), interval: .seconds(4))
        #expect(watch.lapseGap == .milliseconds(4500))
        beat(&watch, from: 0, to: 40, every: 4)
        #expect(watch.allowsReclaim(now: at(40.5)))
    }
}
