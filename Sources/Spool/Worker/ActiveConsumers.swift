import Synchronization

/// The (Redis, prefix, queue, group, consumer name) a ``SpoolWorker/run()`` of this process
/// is serving.
///
/// Two runs under one consumer name on one group take each other for an earlier run of
/// themselves: the second hands the first's running jobs over to `<name>~previous` at start and
/// reclaims them, so they run twice, and the first to stop deletes the heartbeat the other
/// still needs. A `Configuration` copied to two workers, or one worker run twice at once,
/// shares its name; that is refused here. (Across processes, names are unique unless set by
/// hand: ``SpoolWorker/Configuration/consumerName``.)
enum ActiveConsumers {
    private static let running = Mutex<Set<String>>([])

    /// Claims every one of `keys`, or none.
    /// - Returns: the index of the first key already claimed, or `nil` when all were claimed now.
    static func claim(_ keys: [String]) -> Int? {
        running.withLock { running in
            if let taken = keys.firstIndex(where: running.contains) { return taken }
            running.formUnion(keys)
            return nil
        }
    }

    static func release(_ keys: [String]) {
        running.withLock { $0.subtract(keys) }
    }

    /// `redis` is the client's redacted URL: two clients of one server are the same Redis.
    static func key(redis: String, prefix: String, queue: QueueName, group: GroupName, consumer: String) -> String {
        [redis, prefix, queue.rawValue, group.rawValue, consumer].joined(separator: "\u{0}")
    }
}
