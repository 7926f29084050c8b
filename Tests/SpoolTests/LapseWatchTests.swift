import Testing

@testable import Spool

/// ``LapseWatch``: a consumer's jobs are reclaimed once its heartbeat was seen gone for the grace.
@Suite struct LapseWatchTests {
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    @Test("a heartbeat seen gone becomes reclaimable only after the grace, in every round after")
    func grace() {
        var watch = LapseWatch(grace: .seconds(3))
        #expect(watch.round(in: "s", gone: ["a"], now: at(0)).isEmpty)
        #expect(watch.round(in: "s", gone: ["a"], now: at(2.9)).isEmpty)
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(3)) == ["a"])
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(6)) == ["a", "b"])
    }

    @Test("a heartbeat that comes back, or forgetting (the worker's own heartbeat stale), starts the wait again")
    func resets() {
        var watch = LapseWatch(grace: .seconds(3))
        _ = watch.round(in: "s", gone: ["a", "b"], now: at(0))
        // a wrote its heartbeat again (a live worker back after Redis was away)
        _ = watch.round(in: "s", gone: ["b"], now: at(1))
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(3)) == ["b"])
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(5.9)) == ["b"])
        watch.forget()
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(7)).isEmpty)
        #expect(watch.round(in: "s", gone: ["a", "b"], now: at(10)) == ["a", "b"])
    }

    @Test("a round that did not see a consumer gone, or skipped its stream, forgets its sighting")
    func unseenRounds() {
        var watch = LapseWatch(grace: .seconds(3))
        _ = watch.round(in: "s", gone: ["a"], now: at(0))
        _ = watch.round(in: "s", gone: [], now: at(1))
        #expect(watch.round(in: "s", gone: ["a"], now: at(3)).isEmpty)
        _ = watch.round(in: "t", gone: ["b"], now: at(0))
        watch.forget(in: "t")
        #expect(watch.round(in: "t", gone: ["b"], now: at(4)).isEmpty)
        #expect(watch.round(in: "s", gone: ["a"], now: at(6)) == ["a"])
    }

    @Test("each stream keeps its own sightings: a round over the retry stream does not reset the queue's")
    func streamsApart() {
        var watch = LapseWatch(grace: .seconds(3))
        _ = watch.round(in: "main", gone: ["a"], now: at(0))
        _ = watch.round(in: "retry", gone: [], now: at(0))
        _ = watch.round(in: "retry", gone: [], now: at(2))
        #expect(watch.round(in: "main", gone: ["a"], now: at(3)) == ["a"])
    }
}
