import Spool
import SpoolRedis
import SpoolTesting
import Testing

/// A queue's slot migrates, or its master fails over, while jobs flow.
@Suite("Cluster: slot migration and failover while jobs flow", .serialized)
struct ClusterFailoverTests {
    @Test("a queue's slot migrates while jobs flow: nothing is lost, the client follows ASK then MOVED")
    func migration() async throws {
        try await flowing(queue: "migrating") { fixture, cluster, slot, _ in
            let source = try await cluster.master(ofSlot: slot)
            let target = try await cluster.otherMaster(than: source)
            try await cluster.beginMigration(slot: slot, from: source, to: target)
            // one key at a time, so scripts meet keys on both sides (TRYAGAIN) for a while
            while try await cluster.migrateKeys(slot: slot, from: source, to: target, limit: 1) > 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await waitUntil("the client followed an ASK") { (fixture.client.clusterStatistics?.asked ?? 0) > 0 }
            #expect(fixture.client.clusterStatistics?.moved == 0)
            try await cluster.finishMigration(slot: slot, from: source, to: target)
            try await waitUntil("the client followed a MOVED") { (fixture.client.clusterStatistics?.moved ?? 0) > 0 }
            #expect(try await cluster.master(ofSlot: slot).port == target.port)
        }
    }

    @Test("a manual failover (CLUSTER FAILOVER on the replica) while jobs flow loses no acknowledged job")
    func manualFailover() async throws {
        try await flowing(queue: "handover") { _, cluster, slot, _ in
            let master = try await cluster.master(ofSlot: slot)
            let replica = try await cluster.replica(of: master)
            try await cluster.failover(to: replica)
            try await cluster.waitUntilHealthy()
            #expect(try await cluster.master(ofSlot: slot).port == replica.port)
        }
    }

    @Test("a master killed with SIGKILL while jobs flow: its replica takes over and work resumes")
    func killedMaster() async throws {
        try await flowing(queue: "doomed.master") { fixture, cluster, slot, flow in
            let master = try await cluster.master(ofSlot: slot)
            let replica = try await cluster.replica(of: master)
            // Redis Cluster replicates asynchronously: a push the master acknowledged and had
            // not yet sent to its replica dies with it (docs/cluster.md), and on a loaded
            // machine that window is real. So the producer holds while the replica catches up;
            // the worker goes on running and acknowledging jobs through the kill.
            try await flow.pause()
            let written = try await Self.offset(cluster, master, "master_repl_offset")
            try await waitUntil("the replica received every acknowledged push") {
                try await Self.offset(cluster, replica, "slave_repl_offset") >= written
            }
            await cluster.kill(master)
            flow.resume()
            try await cluster.waitUntilHealthy()
            #expect(try await cluster.master(ofSlot: slot).port == replica.port)
            #expect((fixture.client.clusterStatistics?.retried ?? 0) > 0, "commands were retried across the failover")
        }
    }

    /// Runs a worker and a producer on `queue` of a fresh cluster, runs `disturb` once jobs
    /// flow, checks that jobs still flow after it, then that every acknowledged push ran.
    ///
    /// With asynchronous replication and no WAIT, a push acknowledged by a master that dies
    /// before its replica received it is lost (see docs/cluster.md): the SIGKILL case holds the
    /// producer (`flow`) until the replica caught up, then kills the master.
    private func flowing(
        queue name: String, _ disturb: (QueueFixture, RedisCluster, Int, JobFlow) async throws -> Void
    ) async throws {
        try await QueueFixture.withCluster { fixture in
            let cluster = try #require(fixture.cluster)
            let queue = try QueueName(name)
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            let flow = JobFlow()
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await flow.run(fixture.producer, to: queue) }
                    do {
                        try await recorder.waitFor(50)
                        try await disturb(fixture, cluster, RedisHashSlot.of(keys.stream), flow)
                        let before = recorder.count
                        try await recorder.waitFor(before + 50, within: .seconds(30))
                    } catch {
                        flow.stop()
                        throw error
                    }
                    flow.stop()
                    try await tasks.waitForAll()
                }
                let acknowledged = Set(flow.acknowledged)
                try await waitUntil(within: .seconds(30), "every acknowledged job ran") {
                    acknowledged.isSubset(of: Set(recorder.executions.map(\.job)))
                }
                let lost = acknowledged.subtracting(recorder.executions.map(\.job))
                #expect(lost.isEmpty, "\(lost.count) of \(acknowledged.count) acknowledged jobs never ran")
            }
        }
    }

    /// A replication offset from `node`'s `INFO replication` (`master_repl_offset` on a
    /// master, `slave_repl_offset` on a replica: what it has received and applied).
    private static func offset(_ cluster: RedisCluster, _ node: RedisServer, _ field: String) async throws -> Int {
        let info = try await cluster.command(node, ["INFO", "replication"]).string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(field + ":") }
        return try #require(line.flatMap { Int($0.dropFirst(field.count + 1)) }, "\(field) in \(info)")
    }
}
