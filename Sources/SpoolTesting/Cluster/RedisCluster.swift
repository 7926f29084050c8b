import Foundation
import Synchronization

/// A private Redis Cluster for one test: masters and replicas, each a ``RedisServer`` on its
/// own free loopback port and temp directory, joined with `redis-cli --cluster create`.
///
/// Start it with ``start(_:)`` or, better, ``withRedisCluster(_:isolation:_:)``, which always
/// cleans up. The fixture can migrate a slot step by step, fail a master over, and kill one;
/// it only ever signals the processes it started, by pid.
public final class RedisCluster: Sendable {
    /// How to build the cluster.
    public struct Options: Sendable {
        /// Masters; the 16384 slots are split evenly between them. Defaults to 3.
        public var masters: Int
        /// Replicas per master. Defaults to 1.
        public var replicasPerMaster: Int
        /// `cluster-node-timeout`: how long a node may be unreachable before it is failed
        /// over. Defaults to 1 second, so failovers in tests take a few seconds.
        public var nodeTimeout: Duration
        /// Persistence: append-only with `appendfsync always` when `true` (the default).
        public var appendOnly: Bool
        /// TLS on every node's second port (``RedisServer/tlsPort``), with the cluster bus and
        /// replication over TLS too (`tls-cluster yes`, `tls-replication yes`), so the nodes
        /// announce their TLS ports. Defaults to `nil`: plaintext only.
        public var tls: RedisServer.Options.TLS?

        /// Creates options; the defaults give 3 masters, 3 replicas, AOF with fsync always.
        public init(
            masters: Int = 3, replicasPerMaster: Int = 1, nodeTimeout: Duration = .seconds(1), appendOnly: Bool = true,
            tls: RedisServer.Options.TLS? = nil
        ) {
            self.masters = masters
            self.replicasPerMaster = replicasPerMaster
            self.nodeTimeout = nodeTimeout
            self.appendOnly = appendOnly
            self.tls = tls
        }
    }

    /// Every node, in creation order (masters first, as `redis-cli --cluster create` assigns them).
    public let nodes: [RedisServer]
    /// The options the cluster was started with.
    public let options: Options
    /// Ports of nodes this fixture killed; they are skipped by health checks.
    let killedPorts = Mutex<Set<Int>>([])

    /// A `redis-cluster://` URL listing every node as a seed.
    public var url: String {
        "redis-cluster://" + nodes.map { "\($0.host):\($0.port)" }.joined(separator: ",")
    }

    /// A `rediss-cluster://` URL listing every node's TLS port as a seed, trusting `caFile`;
    /// `nil` without ``Options/tls``.
    public func tlsURL(caFile: String) -> String? {
        guard options.tls != nil else { return nil }
        let seeds = nodes.compactMap { node in node.tlsPort.map { "\(node.host):\($0)" } }
        return "rediss-cluster://" + seeds.joined(separator: ",") + "?ca=" + caFile
    }

    private init(nodes: [RedisServer], options: Options) {
        self.nodes = nodes
        self.options = options
    }

    /// Starts the nodes, creates the cluster, and returns once every node reports
    /// `cluster_state:ok` with all slots covered and every replica is in sync.
    ///
    /// - Throws: `RedisServerError` when a node does not start, `redis-cli --cluster create`
    ///   fails, or the cluster is not healthy within 30 seconds.
    public static func start(_ options: Options = .init()) async throws -> RedisCluster {
        let count = options.masters * (1 + options.replicasPerMaster)
        let milliseconds = options.nodeTimeout.components.seconds * 1000
            + options.nodeTimeout.components.attoseconds / 1_000_000_000_000_000
        let serverOptions = RedisServer.Options(
            appendOnly: options.appendOnly,
            extraArguments: [
                "--cluster-node-timeout", String(milliseconds),
                // a replica may always take over, however long its link was down
                "--cluster-replica-validity-factor", "0",
                // replicas sync at once instead of waiting 5 s for more replicas
                "--repl-diskless-sync-delay", "0",
            ] + (options.tls == nil ? [] : ["--tls-cluster", "yes", "--tls-replication", "yes"]),
            tls: options.tls,
            clusterEnabled: true
        )
        var nodes: [RedisServer] = []
        do {
            for _ in 0..<count { nodes.append(try await RedisServer.start(serverOptions)) }
            let cluster = RedisCluster(nodes: nodes, options: options)
            let addresses = nodes.map { "\($0.host):\($0.port)" }
            let create = ["--cluster", "create"] + addresses
                + ["--cluster-replicas", String(options.replicasPerMaster), "--cluster-yes"]
            let first = nodes[0]
            let created = await onDedicatedThread {
                Result { try first.cli(arguments: create, timeout: .seconds(60)) }
            }
            _ = try created.get()
            try await cluster.waitUntilHealthy()
            return cluster
        } catch {
            for node in nodes { await node.shutdown() }
            throw error
        }
    }

    /// Kills every node and removes its directory. Safe to call more than once.
    public func shutdown() async {
        for node in nodes { await node.shutdown() }
    }

    /// The node listening on `port`.
    public func node(port: Int) -> RedisServer? {
        nodes.first { $0.port == port }
    }

    /// Whether the fixture killed `node` (with ``kill(_:)``).
    public func isKilled(_ node: RedisServer) -> Bool {
        killedPorts.withLock { $0.contains(node.port) }
    }

    /// The nodes that were not killed.
    public var liveNodes: [RedisServer] {
        nodes.filter { !isKilled($0) }
    }
}

/// Starts a private Redis Cluster, runs `body` with it, and always shuts it down.
///
/// - Parameters:
///   - options: How to build the cluster.
///   - isolation: The caller's isolation, inherited by `body`; leave the default.
///   - body: The test, given the running cluster.
public func withRedisCluster<T>(
    _ options: RedisCluster.Options = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisCluster) async throws -> T
) async throws -> T {
    let cluster = try await RedisCluster.start(options)
    do {
        let result = try await body(cluster)
        await cluster.shutdown()
        return result
    } catch {
        await cluster.shutdown()
        throw error
    }
}
