import Foundation
import SpoolTesting
import Testing
@testable import SpoolRedis

/// `rediss-cluster://`: a cluster whose nodes speak TLS on their client ports, bus and
/// replication (`tls-cluster yes`), so the slot map announces TLS ports.
@Suite("Cluster over TLS (rediss-cluster://)", .serialized)
struct ClusterTLSTests {
    @Test("rediss-cluster:// finds the TLS ports, sends every command over TLS, and fails closed with another CA")
    func tlsCluster() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tls = RedisServer.Options.TLS(
            certificateFile: certificates.serverCertificate, keyFile: certificates.serverKey, caFile: certificates.caFile
        )
        try await withRedisCluster(.init(masters: 3, replicasPerMaster: 0, appendOnly: false, tls: tls)) { cluster in
            let url = try #require(cluster.tlsURL(caFile: certificates.caFile))
            var configuration = try RedisConfiguration(url: url)
            configuration.connectTimeout = .seconds(5)
            let client = RedisClient(configuration: configuration)
            defer { client.shutdown() }
            let keys = (0..<60).map { "tls:\($0)" }
            let sets = try await client.pipeline(keys.map { RedisCommand("SET", $0, "v-\($0)") })
            #expect(sets == Array(repeating: .simpleString("OK"), count: keys.count))
            for key in keys.prefix(10) {
                #expect(try await client.send("GET", key).string == "v-\(key)")
            }
            // the keys are on every master, and each master saw this client on its TLS port only
            for node in cluster.nodes {
                let size = try await cluster.command(node, ["DBSIZE"])
                #expect(size != .integer(0), "master \(node.port) holds none of the keys")
                let tlsPort = try #require(node.tlsPort)
                let clients = (try await cluster.command(node, ["CLIENT", "LIST"]).string ?? "")
                    .split(whereSeparator: \.isNewline).filter { $0.contains("name=spool") }
                #expect(!clients.isEmpty, "no spool connection on \(node.port)")
                for line in clients {
                    #expect(line.contains("laddr=127.0.0.1:\(tlsPort) "), "not over TLS: \(line)")
                }
            }
            // another CA: the first command fails closed, never in plaintext
            let refused = RedisClient(configuration: try RedisConfiguration(
                url: url.replacingOccurrences(of: certificates.caFile, with: certificates.otherCAFile)
            ))
            defer { refused.shutdown() }
            let error = await #expect(throws: RedisError.self) { try await refused.send("PING") }
            #expect(error?.code == .connectionFailed, "\(String(describing: error))")
        }
    }
}
