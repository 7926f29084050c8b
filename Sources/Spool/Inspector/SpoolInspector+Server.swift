import SpoolRedis

extension SpoolInspector {
    /// The server's `maxmemory-policy`; anything but `noeviction` lets Redis evict queues.
    ///
    /// On a cluster every master is asked, and the first policy other than `noeviction` is
    /// returned (else `noeviction`); a master that cannot be read fails the call (see
    /// ``evictionPolicies()`` to read the others anyway).
    /// - Throws: ``SpoolError`` `redis`, e.g. when an ACL refuses CONFIG GET (the underlying
    ///   ``RedisError`` then has code `noPermission`).
    public func evictionPolicy() async throws(SpoolError) -> String {
        let replies: [RESPValue]
        do {
            replies = try await client.sendToEachMaster(RedisCommand("CONFIG", "GET", "maxmemory-policy"))
        } catch {
            throw SpoolError.redis(error, doing: "read maxmemory-policy")
        }
        let policies = replies.compactMap(Self.evictionPolicy(in:))
        guard let first = policies.first, policies.count == replies.count else {
            throw Self.policyNotReported
        }
        return policies.first { $0 != "noeviction" } ?? first
    }

    /// One master's `maxmemory-policy`, or why it could not be read.
    public struct EvictionPolicyReading: Sendable {
        /// The node's address with any password replaced by `***`.
        public var node: String
        /// The policy, or a ``SpoolError`` `redis` whose underlying ``RedisError`` tells why
        /// (`noPermission` for an ACL refusal; `connectionFailed`, `connectionClosed` or
        /// `timeout` for a node that did not answer).
        public var policy: Result<String, SpoolError>
    }

    /// The `maxmemory-policy` of each master of a cluster (of the one server otherwise), in
    /// the slot map's order; a master that is down or refuses CONFIG GET has its error in
    /// its place, and the others are read all the same.
    /// - Throws: ``SpoolError`` `redis` only when a cluster's slot map cannot be read.
    public func evictionPolicies() async throws(SpoolError) -> [EvictionPolicyReading] {
        let results: [RedisClient.MasterResult]
        do {
            results = try await client.resultsFromEachMaster(RedisCommand("CONFIG", "GET", "maxmemory-policy"))
        } catch {
            throw SpoolError.redis(error, doing: "read maxmemory-policy")
        }
        return results.map { result in
            switch result.result {
            case .success(let reply):
                guard let policy = Self.evictionPolicy(in: reply) else {
                    return EvictionPolicyReading(node: result.node, policy: .failure(Self.policyNotReported))
                }
                return EvictionPolicyReading(node: result.node, policy: .success(policy))
            case .failure(let error):
                return EvictionPolicyReading(node: result.node, policy: .failure(SpoolError.redis(error, doing: "read maxmemory-policy")))
            }
        }
    }

    private static func evictionPolicy(in reply: RESPValue) -> String? {
        Dictionary(pairs: reply)["maxmemory-policy"]?.string
    }

    private static var policyNotReported: SpoolError {
        SpoolError(code: .redis, message: "read maxmemory-policy failed: the server did not report it")
    }
}
