import Foundation
import SpoolTesting
import Testing

/// The `spool` binary against a 3-master, 3-replica Redis Cluster.
@Suite("spool on a Redis Cluster (the built binary)", .serialized, .timeLimit(.minutes(2)))
struct ClusterCommandTests {
    @Test("enqueue, then queues lists every queue from the registry across masters")
    func enqueueAndList() async throws {
        try await withRedisCluster { cluster in
            // one queue on each master
            var byMaster: [Int: String] = [:]
            for index in 0..<100 where byMaster.count < 3 {
                let name = "queue\(index)"
                let master = try await cluster.master(ofSlot: try await cluster.keySlot("spool:{\(name)}:stream")).port
                if byMaster[master] == nil { byMaster[master] = name }
            }
            let names = Array(byMaster.values)
            #expect(names.count == 3)
            for name in names {
                let result = try await SpoolProcess.run(["enqueue", name, "--redis", cluster.url, "--data", #"{"n": 1}"#])
                #expect(result.status == 0, "\(result.stderr)")
            }
            let run = try await spool("queues", "--json", "--redis", cluster.url)
            #expect(run.status == 0, "\(run.stderr)")
            let queues = try #require(try run.json()["queues"] as? [[String: Any]])
            #expect(Set(queues.compactMap { $0["queue"] as? String }) == Set(names))
            #expect(queues.allSatisfy { $0["length"] as? Int == 1 })
            let inspect = try await spool("inspect", names[0], "--json", "--redis", cluster.url)
            #expect(inspect.status == 0, "\(inspect.stderr)")
        }
    }

    /// Keyless commands (PING, CONFIG GET) went to the slot map's first master, the one serving
    /// slot 0: with it down and no replica to take over, a worker of a queue on another master
    /// exited 1 at startup (and its /healthz said 503), `spool ping` failed, and `spool health
    /// --queue` failed reading maxmemory-policy.
    @Test("with slot 0's master down (no replica): spool ping, health --queue, a worker's startup and /healthz succeed")
    func deadMasterOfSlotZero() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            let dead = try await cluster.master(ofSlot: 0)
            // the registry, slot 8975, is not on slot 0's master; the queue is on the third
            let registryMaster = try await cluster.master(ofSlot: try await cluster.keySlot("spool:queues"))
            try #require(registryMaster.port != dead.port)
            var queue = ""
            var home = dead
            for index in 0..<100 where queue.isEmpty {
                let master = try await cluster.master(ofSlot: try await cluster.keySlot("spool:{hooks\(index)}:stream"))
                if master.port != dead.port && master.port != registryMaster.port { (queue, home) = ("hooks\(index)", master) }
            }
            try #require(!queue.isEmpty)
            for node in cluster.nodes {
                let reply = try await cluster.command(node, ["CONFIG", "SET", "cluster-require-full-coverage", "no"])
                try #require(reply.string == "OK", "\(reply)")
            }
            let enqueued = try await SpoolProcess.run(["enqueue", queue, "--redis", cluster.url, "--data", "{}"])
            try #require(enqueued.status == 0, "\(enqueued.stderr)")
            await cluster.kill(dead)

            let ping = try await spool("ping", "--redis", cluster.url)
            #expect(ping.status == 0 && ping.stdout.hasPrefix("PONG"), "\(ping.stderr)")

            let health = try await spool("health", "--queue", queue, "--json", "--redis", cluster.url)
            #expect(health.status == 0, "\(health.stderr)")
            let report = (try? health.json()) ?? [:]
            #expect(report["healthy"] as? Bool == true && report["eviction_policy"] as? String == "noeviction", "\(report)")
            // the dead master is reported, not hidden
            let warnings = report["warnings"] as? [String] ?? []
            #expect(warnings.count == 1 && warnings.first?.contains("127.0.0.1:\(dead.port) did not answer") == true, "\(warnings)")

            let worker = try SpoolProcess.start([
                "worker", "--redis", cluster.url, "--queue", queue, "--metrics-port", "0", "--exec", "/bin/true",
            ])
            defer { worker.kill() }
            let port = try await worker.loggedMetricsPort()
            let healthz = try HTTPGet.get(port: port, "/healthz")
            #expect(healthz.status == 200, "\(healthz.body)")
            try await waitUntil("the worker ran the queued job") {
                try await cluster.command(home, ["ZCARD", "spool:{\(queue)}:done:default"]) == .integer(1)
            }

            // with the registry's master down too, the queue's own master still answers for it
            await cluster.kill(registryMaster)
            let alone = try await spool("health", "--queue", queue, "--json", "--redis", cluster.url)
            #expect(alone.status == 0, "\(alone.stderr)")
            #expect(((try? alone.json()) ?? [:])["warnings"] as? [String] ?? [] != [], "both dead masters are reported")
        }
    }
}
