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
}
