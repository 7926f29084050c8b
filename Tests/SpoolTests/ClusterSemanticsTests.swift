import Spool
import SpoolRedis
import SpoolTesting
import Testing

/// The core queue semantics on a 3-master, 3-replica Redis Cluster.
@Suite("Cluster: queue semantics", .serialized)
struct ClusterSemanticsTests {
    @Test("push, process, retry, dead letter, dedup, fan-out and crash recovery on one cluster, queues spread over masters")
    func coreSemantics() async throws {
        try await QueueFixture.withCluster { fixture in
            try await WorkerDeliveryTests.runsJobs(fixture)
            try await WorkerDeliveryTests.retriesThenDeadLetter(fixture)
            try await WorkerDeliveryTests.nonRetryable(fixture)
            try await WorkerSemanticsTests.dedupSkipsCompleted(fixture)
            try await WorkerSemanticsTests.fanOut(fixture)
            try await CrashRecoveryTests.killedWorkerRecovery(fixture)

            let names = ["greetings", "flaky", "strict", "dedup", "order.placed", "crashy"]
            let cluster = try #require(fixture.cluster)
            var masters = Set<Int>()
            for name in names {
                let slot = RedisHashSlot.of(QueueKeys(queue: try QueueName(name)).stream)
                masters.insert(try await cluster.master(ofSlot: slot).port)
            }
            #expect(masters.count >= 2, "the queues live on \(masters.count) master(s)")
            // the registry set, not SCAN, lists the queues of every master
            let listed = try await SpoolInspector(client: fixture.client).queueNames().map(\.rawValue)
            #expect(Set(listed) == Set(names))
            let status = try await SpoolInspector(client: fixture.client).status(of: try QueueName("greetings"))
            #expect(status.groups.map(\.group) == ["default"] && status.groups.first?.completed == 100)

            // the eviction check (spool health) reads every master, not just the one keyless commands go to
            let inspector = SpoolInspector(client: fixture.client)
            #expect(try await inspector.evictionPolicy() == "noeviction")
            let first = try #require(fixture.client.clusterMasters.first)
            let other = try #require(try await cluster.masters().first { RedisAddress.tcp(host: $0.host, port: $0.port) != first })
            _ = try await cluster.command(other, ["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
            #expect(try await inspector.evictionPolicy() == "allkeys-lru")
        }
    }
}
