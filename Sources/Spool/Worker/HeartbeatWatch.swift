/// Whether this worker may take another worker's lapsed heartbeat to mean that worker is gone.
///
/// Heartbeats lapse for two reasons: the worker died, or Redis was away (restarting, failing
/// over, paused, out of memory and refusing writes, a cluster master moving) for longer than
/// the TTL, and then they lapse all at once, live workers' included. Live workers write theirs
/// again within a heartbeat interval (and a reconnect's backoff) of Redis coming back; a worker
/// that reclaimed at once took their running jobs, which then ran twice, and some were
/// dead-lettered as `max_deliveries` while they ran.
///
/// So a worker reclaims only once it has written its own heartbeat for a whole TTL without a
/// gap in which a heartbeat could have lapsed: two successful writes whose time apart (from
/// the first one's send to the second one's reply) came near the TTL, or none yet. A failed or
/// refused write is no gap by itself (the next one, an interval later, may keep the key).
/// The same holds at start: a new worker first watches for one TTL, as it cannot tell a dead
/// worker from one that has not written since Redis came back.
struct HeartbeatWatch: Sendable {
    let ttl: Duration
    let interval: Duration
    /// The send time of the last successful write.
    private var lastWriteSent: ContinuousClock.Instant?
    /// Since when the heartbeat has been written without a gap.
    private var keptSince: ContinuousClock.Instant?

    init(ttl: Duration, interval: Duration) {
        self.ttl = ttl
        self.interval = interval
    }

    /// Two writes this far apart may have let a heartbeat lapse: this worker's own (`ttl`)
    /// less an interval, as another live worker's writes may fall up to an interval later than
    /// its own; at least halfway between the interval and the TTL, so that writes an interval
    /// apart, as they come when all is well, never count as a gap.
    var lapseGap: Duration { max(ttl - interval, (ttl + interval) / 2) }

    /// A write sent at `sent` succeeded; `now` is when its reply came.
    mutating func written(sentAt sent: ContinuousClock.Instant, now: ContinuousClock.Instant) {
        if keptSince == nil || lastWriteSent.map({ now - $0 >= lapseGap }) ?? true {
            keptSince = now
        }
        lastWriteSent = sent
    }

    /// Whether reclaiming is safe at `now`: the heartbeat kept for a TTL, and the last write
    /// recent enough that no gap is under way.
    func allowsReclaim(now: ContinuousClock.Instant) -> Bool {
        guard let keptSince, let lastWriteSent else { return false }
        return now - keptSince >= ttl && now - lastWriteSent < lapseGap
    }
}
