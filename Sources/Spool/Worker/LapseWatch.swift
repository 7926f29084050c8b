/// Which other workers' heartbeats this worker has seen gone for long enough to take their jobs.
///
/// A heartbeat is gone because its worker died, or because Redis was away (restarting, failing
/// over, paused, refusing writes) for longer than the TTL: then every heartbeat lapsed at once,
/// live workers' included, and the first worker back took the jobs the others were running
/// (they ran twice; some were dead-lettered as `max_deliveries` while they ran). A live worker
/// writes its heartbeat again within its next beat, a reconnect's backoff and its connect of
/// Redis coming back. So a consumer's jobs are reclaimed only once its heartbeat has been seen
/// gone, round after round, for that long (``grace``); while this worker's own heartbeat goes
/// unwritten for most of a TTL (an outage it cannot see past: Redis out of memory refuses every
/// heartbeat while it still answers reads) the sightings are forgotten (``forget()``). A dead
/// worker's jobs wait ``grace`` longer than before.
struct LapseWatch {
    /// How long a heartbeat must be seen gone: the heartbeat interval, the reconnect backoff
    /// and the connect timeout.
    let grace: Duration
    /// By stream (the queue's and the group's retry stream list their consumers apart): when
    /// each consumer's heartbeat was first seen gone, in the rounds since it was last seen
    /// present or the sightings were forgotten.
    private var goneSince: [String: [String: ContinuousClock.Instant]] = [:]

    init(grace: Duration) {
        self.grace = grace
    }

    /// One reclaim round over `stream` saw the heartbeats of `gone` missing (and of every other
    /// consumer it asked about, present): returns those of `gone` seen missing for ``grace``
    /// or longer.
    mutating func round(in stream: String, gone: [String], now: ContinuousClock.Instant) -> Set<String> {
        let before = goneSince[stream] ?? [:]
        var seen: [String: ContinuousClock.Instant] = [:]
        var ready: Set<String> = []
        for name in gone {
            let since = before[name] ?? now
            seen[name] = since
            if now - since >= grace { ready.insert(name) }
        }
        goneSince[stream] = seen
        return ready
    }

    /// Forgets every sighting: this worker's own heartbeat has not been written for most of a
    /// TTL (Redis away or refusing writes; a live worker's heartbeat may lapse too).
    mutating func forget() {
        goneSince.removeAll()
    }

    /// Forgets the sightings of `stream`: a round skipped it.
    mutating func forget(in stream: String) {
        goneSince[stream] = nil
    }
}
