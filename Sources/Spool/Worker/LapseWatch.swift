/// Which other workers' heartbeats this worker has seen gone for long enough to take their jobs.
///
/// A heartbeat is gone because its worker died, or because Redis was away (restarting, failing
/// over, paused, refusing writes) for longer than the TTL: then every heartbeat lapsed at once,
/// live workers' included, and the first worker back took the jobs the others were running
/// (they ran twice; some were dead-lettered as `max_deliveries` while they ran). A live worker
/// writes its heartbeat again within a heartbeat interval and the client's reconnect backoff
/// of Redis coming back. So a consumer's jobs are reclaimed only once its heartbeat has been
/// seen gone for that long (``grace``), in reclaim rounds with no failure of this worker's
/// fetch loop, and no failed or refused heartbeat of its own, in between: either may be an
/// outage this worker cannot see past (Redis out of memory refuses every heartbeat while it
/// still answers reads), and starts the wait again (``forget()``). A dead worker's jobs wait
/// ``grace`` longer than before.
struct LapseWatch {
    /// How long a heartbeat must be seen gone: the heartbeat interval plus the reconnect backoff.
    let grace: Duration
    /// By stream (the queue's and the group's retry stream list their consumers apart): when
    /// each consumer's heartbeat was first seen gone, in the rounds since the last failure.
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

    /// Forgets every sighting: after a failure of the fetch loop (a read, a reclaim).
    mutating func forget() {
        goneSince.removeAll()
    }
}
