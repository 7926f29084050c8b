import SpoolRedis

extension SpoolInspector {
    /// The server's `maxmemory-policy`; anything but `noeviction` lets Redis evict queues.
    ///
    /// On a cluster every master is asked, and the first policy other than `noeviction` is
    /// returned (else `noeviction`).
    /// - Throws: ``SpoolError`` `redis`, e.g. when an ACL refuses CONFIG GET (the underlying
    ///   ``RedisError`` then has code `noPermission`).
    public func evictionPolicy() async throws(SpoolError) -> String {
        let replies: [RESPValue]
        do {
            replies = try await client.sendToEachMaster(RedisCommand("CONFIG", "GET", "maxmemory-policy"))
        } catch {
            throw SpoolError.redis(error, doing: "read maxmemory-policy")
        }
        let policies = replies.compactMap { Dictionary(pairs: $0)["maxmemory-policy"]?.string }
        guard let first = policies.first, policies.count == replies.count else {
            throw SpoolError(code: .redis, message: "read maxmemory-policy failed: the server did not report it")
        }
        return policies.first { $0 != "noeviction" } ?? first
    }
}
