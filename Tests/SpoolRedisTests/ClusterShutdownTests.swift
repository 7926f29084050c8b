import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("Cluster: shutdown while the slot map is being read", .serialized)
struct ClusterShutdownTests {
    /// A node the router makes after `shutdown()` (here the next seed a map read under way
    /// asks; a MOVED or ASK target likewise) got live connections: the map was read there,
    /// and the command sent after the shutdown ran.
    @Test("a map read under way at shutdown() asks no new node, and its command fails as shut down", .timeLimit(.minutes(2)))
    func noNodeAfterShutdown() async throws {
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0)) { cluster in
            // the first seed: a plain Redis behind a proxy adding a second each way, so the
            // map read waits there while the test shuts the client down
            try await withRedisServer { slow in
                let proxy = try DelayProxy(targetHost: slow.host, targetPort: slow.port, delay: .seconds(1) ... .seconds(1))
                defer { proxy.stop() }
                let node = cluster.nodes[0]
                var configuration = try RedisConfiguration(url: "redis-cluster://127.0.0.1:\(proxy.port),\(node.host):\(node.port)")
                configuration.connectTimeout = .seconds(20)
                configuration.commandTimeout = .seconds(20)
                let client = RedisClient(configuration: configuration)
                defer { client.shutdown() }
                let key = "after-shutdown"

                let sent = Task { try await client.send("SET", key, "ran") }
                try await waitUntilAsked(slow, within: .seconds(30))
                // the reply is on its way back through the proxy: shut down now
                try await runOffThePool { client.shutdown() }

                let outcome = await result(of: sent, within: .seconds(30)) {}
                switch outcome {
                case .success(let reply)?:
                    Issue.record("the command was answered after shutdown: \(reply)")
                case .failure(let error)?:
                    #expect((error as? RedisError)?.code == .shutdown, "\(error)")
                case nil:
                    Issue.record("the command did not end within 30 s of shutdown()")
                }
                let owner = try await cluster.master(ofSlot: RedisHashSlot.of(key))
                #expect(try await cluster.command(owner, ["GET", key]) == .bulk(nil), "the command did not run")
            }
        }
    }

    /// Waits until `server` has run `CLUSTER SLOTS` for a client (it answers it with an error:
    /// it is no cluster node).
    private func waitUntilAsked(_ server: RedisServer, within limit: Duration) async throws {
        let probe = RedisProbe(endpoint: .tcp(host: server.host, port: server.port), timeout: .seconds(5))
        let deadline = ContinuousClock.now + limit
        while true {
            let clients = try await probe.pipeline([["CLIENT", "LIST"]])[0].string ?? ""
            if clients.contains("cmd=cluster|slots") { return }
            try #require(ContinuousClock.now < deadline, "no CLUSTER SLOTS within \(limit): \(clients)")
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
