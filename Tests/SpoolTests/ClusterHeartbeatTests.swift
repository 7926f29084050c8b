import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// The heartbeat of a worker whose queue's slot is being migrated.
@Suite("Cluster: the heartbeat while a queue's slot migrates", .serialized)
struct ClusterHeartbeatTests {
    /// The heartbeat was sent in the same loop as the promotions, and during a migration each
    /// promotion waits out `TRYAGAIN` for 6 to 12 s (its keys include ones that do not exist):
    /// the heartbeat lapsed (TTL 3 s here), and another worker would have taken the running job.
    @Test("a worker's heartbeat goes on while its promotions and trims wait out a slot migration")
    func heartbeatDuringMigration() async throws {
        try await QueueFixture.withCluster { fixture in
            let cluster = try #require(fixture.cluster)
            let queue = try QueueName("beating")
            let keys = QueueKeys(queue: queue)
            let slot = RedisHashSlot.of(keys.stream)
            let started = Atomic<Bool>(false)
            let released = Atomic<Bool>(false)
            var worker = fixture.worker(name: "beater")
            worker.register(Greeting.self, queue: queue) { _, _ in
                started.store(true, ordering: .relaxed)
                while !released.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(50)) }
            }
            _ = try await fixture.producer.push(Greeting(name: "long"), to: queue)
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the job runs") { started.load(ordering: .relaxed) }
                let source = try await cluster.master(ofSlot: slot)
                let target = try await cluster.otherMaster(than: source)
                // MIGRATING without moving a key: every script of the slot that names a key that
                // does not exist (the schedule, the delayed set, the meta hash) meets TRYAGAIN
                try await cluster.beginMigration(slot: slot, from: source, to: target)
                let heartbeat = keys.heartbeat(.default, consumer: "beater")
                var lapsed: ContinuousClock.Instant?
                let began = ContinuousClock.now
                // four heartbeat TTLs
                while ContinuousClock.now < began + .seconds(12) {
                    if try await cluster.command(source, ["EXISTS", heartbeat]) != .integer(1) {
                        lapsed = .now
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // the migration called off: the slot stays where it was, with all its keys
                for node in [target, source] {
                    _ = try await cluster.command(node, ["CLUSTER", "SETSLOT", String(slot), "STABLE"])
                }
                released.store(true, ordering: .relaxed)
                #expect(lapsed == nil, "the heartbeat lapsed \(lapsed.map { "\($0 - began)" } ?? "") into the migration")
                try await waitUntil(within: .seconds(30), "the job completed") {
                    try await fixture.redis("ZCARD", keys.done(.default)) == .integer(1)
                }
            }
        }
    }
}
