import SpoolTesting
import Synchronization

extension FaultRun {
    /// Where the clients of a run reach Redis.
    public struct Links: Sendable {
        /// The workers' URL.
        public var workers: String
        /// The producer's (and the checker's) URL.
        public var producer: String
        /// A URL over the link ``FaultRun/cutLink()`` cuts; `nil` without a partitionable network.
        public var cuttable: String?
    }

    /// Drops every packet between this namespace and Redis on ``Links/cuttable`` (connections
    /// hang; nothing is refused) until ``restoreLink()``.
    public func cutLink() throws {
        guard let namespace = network.namespace else { throw FaultsError("this scenario has no partitionable link") }
        try namespace.cut(1)
    }

    /// Lets packets through ``Links/cuttable`` again.
    public func restoreLink() throws {
        guard let namespace = network.namespace else { throw FaultsError("this scenario has no partitionable link") }
        try namespace.restore(1)
    }
}

/// A scenario that cannot run on this machine (e.g. a network partition without root).
public struct ScenarioNotRunnable: Error, Sendable, CustomStringConvertible {
    /// Why, e.g. "creating a network namespace needs root (CAP_NET_ADMIN)".
    public var reason: String
    public var description: String { "not runnable here: \(reason)" }
}

/// The network a run uses, made before Redis starts and removed after it stopped.
///
/// - `loopback`: everything on 127.0.0.1.
/// - `partitionable`: Redis in a private network namespace, listening on two veth links:
///   link 0 for the workers that stay connected, link 1 (``FaultRun/Links/cuttable``) for the
///   producer and the worker a partition cuts off.
/// - `delayed`: every client goes through a ``DelayProxy``.
final class RunNetwork: Sendable {
    let namespace: NetworkNamespace?
    private let delay: ClosedRange<Duration>?
    private let proxy = Mutex<DelayProxy?>(nil)

    init(_ kind: Scenario.Network) throws {
        switch kind {
        case .loopback:
            namespace = nil
            delay = nil
        case .partitionable:
            do {
                namespace = try NetworkNamespace.create(links: 2)
            } catch where error.isUnavailable {
                throw ScenarioNotRunnable(reason: error.message)
            }
            delay = nil
        case .delayed(let range):
            namespace = nil
            delay = range
        }
    }

    /// `options` with Redis moved into the namespace, if there is one.
    func serverOptions(_ options: RedisServer.Options) -> RedisServer.Options {
        guard let namespace else { return options }
        var options = options
        options.networkNamespace = namespace.name
        options.bindAddresses = namespace.links.map(\.namespaceAddress)
        return options
    }

    /// The clients' URLs for `server`; starts the delay proxy.
    func links(for server: RedisServer) throws -> FaultRun.Links {
        if let namespace {
            let cuttable = "redis://\(namespace.links[1].namespaceAddress):\(server.port)"
            return FaultRun.Links(workers: server.url, producer: cuttable, cuttable: cuttable)
        }
        if let delay {
            let proxy = try DelayProxy(targetHost: server.host, targetPort: server.port, delay: delay)
            self.proxy.withLock { $0 = proxy }
            return FaultRun.Links(workers: proxy.url, producer: proxy.url, cuttable: nil)
        }
        return FaultRun.Links(workers: server.url, producer: server.url, cuttable: nil)
    }

    /// Stops the proxy and deletes the namespace (Redis must have stopped).
    func tearDown() {
        proxy.withLock { $0?.stop() }
        namespace?.destroy()
    }
}
