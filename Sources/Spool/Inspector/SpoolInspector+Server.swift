import SpoolRedis

extension SpoolInspector {
    /// The server's `maxmemory-policy`; anything but `noeviction` lets Redis evict queues.
    /// - Throws: ``SpoolError`` `redis`, e.g. when an ACL refuses CONFIG GET (the underlying
    ///   ``RedisError`` then has code `noPermission`).
    public func evictionPolicy() async throws(SpoolError) -> String {
        let reply = try await send(RedisCommand("CONFIG", "GET", "maxmemory-policy"), doing: "read maxmemory-policy")
        guard let value = Dictionary(pairs: reply)["maxmemory-policy"]?.string else {
            throw SpoolError(code: .redis, message: "read maxmemory-policy failed: the server did not report it")
        }
        return value
    }
}
