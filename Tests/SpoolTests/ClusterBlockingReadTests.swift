@testable import Spool
import CoreMetrics
import Logging
import SpoolRedis
import SpoolTesting
import Testing

/// The worker's blocking read on a cluster, when the queue's slot has a new master.
///
/// The read's reply came back from the dedicated connection as a value, and the worker threw
/// it only after the lease had ended: the client never saw the MOVED (or UNBLOCKED), so its
/// slot map kept the old master and the next read went there again.
@Suite("Cluster: the worker's blocking read learns where its queue went", .serialized)
struct ClusterBlockingReadTests {
    @Test("a blocking read that meets MOVED updates the slot map: the next lease goes to the new owner")
    func movedSlot() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            try await withRunner(cluster, queue: "moved.read", block: .milliseconds(200)) { client, runner, keys in
                let slot = RedisHashSlot.of(keys.stream)
                let target = try await cluster.moveSlot(slot).target
                let before = try #require(client.clusterStatistics)

                // the client's map still names the old owner: the read goes there and meets MOVED
                let error = await #expect(throws: RedisError.self) { try await runner.blockingRead(count: 1) }
                #expect(error?.code == .redirected, "\(String(describing: error))")
                #expect(client.clusterStatistics?.moved == before.moved + 1)
                let reached = await node(leasedFor: keys.stream, client)
                #expect(reached == "port \(target.port)")
            }
        }
    }

    @Test("a blocking read that a failover unblocks (UNBLOCKED) rereads the slot map as its lease ends")
    func unblockedByFailover() async throws {
        try await withRedisCluster { cluster in
            try await withRunner(cluster, queue: "unblocked.read", block: .seconds(60)) { client, runner, keys in
                let master = try await cluster.master(ofSlot: RedisHashSlot.of(keys.stream))
                let replica = try await cluster.replica(of: master)
                async let read = runner.blockingRead(count: 1)
                try await waitUntil(within: .seconds(30), "the read is blocked on the master") {
                    let clients = try await cluster.command(master, ["CLIENT", "LIST"]).string ?? ""
                    return clients.split(separator: "\n").contains { $0.contains(" flags=b ") && $0.contains(" cmd=xreadgroup") }
                }
                let before = try #require(client.clusterStatistics)
                try await cluster.failover(to: replica)
                do {
                    let delivered = try await read
                    Issue.record("the read returned \(delivered.count) entries across the failover")
                } catch let error as RedisError {
                    #expect(error.message.hasPrefix("UNBLOCKED"), "\(error)")
                }
                // The map was read again as the lease ended. Which master that read names
                // depends on how far the failover's news has spread among the nodes (a busy
                // machine delays it), so the test asserts the reread, not the next lease's node:
                // a map still naming the old master is corrected by the MOVED the next read meets.
                let after = try #require(client.clusterStatistics)
                #expect(after.refreshes > before.refreshes, "no slot-map read after UNBLOCKED: \(before) → \(after)")
            }
        }
    }

    /// Creates the queue's groups, then runs `body` with a client that has read the slot map
    /// and a runner whose blocking reads wait up to `block`.
    private func withRunner(
        _ cluster: RedisCluster, queue name: String, block: Duration,
        _ body: (RedisClient, SubscriptionRunner, QueueKeys) async throws -> Void
    ) async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: cluster.url))
        defer { client.shutdown() }
        let keys = QueueKeys(queue: try QueueName(name))
        for stream in [keys.stream, keys.retry(.default)] {
            #expect(try await client.send("XGROUP", "CREATE", stream, "default", "0", "MKSTREAM").string == "OK")
        }
        var logger = Logger(label: "spool.test")
        logger.logLevel = .critical
        var configuration = SpoolWorker.Configuration()
        configuration.consumerName = "reader"
        configuration.fetchBlockTime = block
        let runner = SubscriptionRunner(
            client: client, keys: keys, group: .default, subscription: Subscription(options: .init()),
            configuration: configuration, logger: logger, metricsFactory: NOOPMetricsHandler.instance
        )
        try await body(client, runner, keys)
    }

    /// `port N` for the node a dedicated connection for `key` reaches, or the error of the lease.
    private func node(leasedFor key: String, _ client: RedisClient) async -> String {
        do {
            let reply = try await client.withDedicatedConnection(forKey: key) { connection in
                try await connection.send(RedisCommand("CONFIG", "GET", "port"))
            }
            return "port \(reply.array?.last?.string ?? "\(reply)")"
        } catch {
            return "\(error)"
        }
    }
}
