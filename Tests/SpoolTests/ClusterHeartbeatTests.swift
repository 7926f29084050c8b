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
                // The heartbeat (SET … PX, every 200 ms here) is counted where Redis ran it: on
                // the source, or on the target after an ASK had the key expired. The promotions
                // wait out TRYAGAIN for 6-12 s each: a heartbeat sent between them would make at
                // most 5 in 30 s. (Counted, not watched for a lapse: on a loaded machine one
                // beat may come late without anything being wrong.)
                func heartbeats() async throws -> Int {
                    var calls = 0
                    for node in [source, target] {
                        let stats = try await cluster.command(node, ["INFO", "commandstats"]).string ?? ""
                        let line = stats.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_set:") }
                        calls += line?.split(separator: ",").first?.split(separator: "=").last.flatMap { Int($0) } ?? 0
                    }
                    return calls
                }
                let before = try await heartbeats()
                let began = ContinuousClock.now
                var beats = 0
                while true {
                    beats = try await heartbeats() - before
                    if beats >= 10 || ContinuousClock.now - began >= .seconds(30) { break }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let took = ContinuousClock.now - began
                // the migration called off: the slot stays where it was, with all its keys
                for node in [target, source] {
                    _ = try await cluster.command(node, ["CLUSTER", "SETSLOT", String(slot), "STABLE"])
                }
                released.store(true, ordering: .relaxed)
                #expect(beats >= 10, "\(beats) heartbeats in \(took) of the migration")
                try await waitUntil(within: .seconds(30), "the job completed") {
                    try await fixture.redis("ZCARD", keys.done(.default)) == .integer(1)
                }
            }
        }
    }
}
