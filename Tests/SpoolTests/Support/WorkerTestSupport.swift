import CoreMetrics
import Logging
import ServiceLifecycleTestKit
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// A private Redis (or Redis Cluster), a client, a producer and fast worker settings for one test.
struct QueueFixture: Sendable {
    /// The server; for a cluster, its first node.
    let server: RedisServer
    /// The cluster, when the fixture runs on one.
    var cluster: RedisCluster? = nil
    /// The URL the client connects to (`redis-cluster://...` on a cluster).
    let url: String
    let client: RedisClient
    let producer: SpoolProducer
    let logger: Logger
    /// Whether the workers it makes run on a thread of their own
    /// (``SpoolWorker/Configuration/dedicatedThread``).
    var dedicatedThread = false

    /// Starts a server and runs `body`, tearing everything down afterwards.
    static func with(_ options: RedisServer.Options = .init(), _ body: (QueueFixture) async throws -> Void) async throws {
        try await withRedisServer(options) { server in
            try await run(server: server, cluster: nil, url: server.url, body)
        }
    }

    /// Starts a 3-master, 3-replica Redis Cluster and runs `body` with a cluster client.
    static func withCluster(_ body: (QueueFixture) async throws -> Void) async throws {
        try await withRedisCluster { cluster in
            try await run(server: cluster.nodes[0], cluster: cluster, url: cluster.url, body)
        }
    }

    private static func run(
        server: RedisServer, cluster: RedisCluster?, url: String, _ body: (QueueFixture) async throws -> Void
    ) async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: url))
        defer { client.shutdown() }
        var logger = Logger(label: "spool.test")
        logger.logLevel = .critical
        let fixture = QueueFixture(
            server: server, cluster: cluster, url: url, client: client, producer: SpoolProducer(client: client, logger: logger),
            logger: logger
        )
        try await body(fixture)
    }

    /// Worker settings scaled down so tests finish in seconds.
    func workerConfiguration(name: String? = nil) -> SpoolWorker.Configuration {
        var configuration = SpoolWorker.Configuration()
        if let name { configuration.consumerName = name }
        configuration.fetchBlockTime = .milliseconds(200)
        configuration.heartbeatInterval = .milliseconds(200)
        // A live in-process worker keeps its jobs unless its upkeep stalls 2.8 s; on a loaded
        // CI machine 1 s was not enough. Tests that need a heartbeat to lapse fast kill a child
        // worker (`SpoolTestWorker`, TTL 1 s) or use a consumer that never beat at all.
        configuration.heartbeatTTL = .seconds(3)
        configuration.promoteInterval = .milliseconds(50)
        configuration.trimInterval = .milliseconds(200)
        configuration.gracePeriod = .seconds(5)
        configuration.dedicatedThread = dedicatedThread
        return configuration
    }

    func worker(
        name: String? = nil, metrics: (any MetricsFactory)? = nil,
        configure: (inout SpoolWorker.Configuration) -> Void = { _ in }
    ) -> SpoolWorker {
        var configuration = workerConfiguration(name: name)
        configure(&configuration)
        return SpoolWorker(
            client: client, configuration: configuration, logger: logger, metricsFactory: metrics ?? NOOPMetricsHandler.instance
        )
    }

    /// Sends a raw command and returns its reply.
    @discardableResult
    func redis(_ arguments: String...) async throws -> RESPValue {
        try await client.send(RedisCommand(arguments[0], Array(arguments.dropFirst())))
    }

    /// The ids of the jobs in `queue`'s stream (default prefix), in stream order.
    func storedJobIDs(_ queue: QueueName) async throws -> [JobID] {
        let entries = try await redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+").array ?? []
        return try entries.map { try JobEnvelope.decode(fields: $0.array?[1].array?.compactMap(\.bytes) ?? []).id }
    }
}

/// Runs `worker` while `body` runs, then shuts it down gracefully and waits for it.
func running(_ workers: SpoolWorker..., body: () async throws -> Void) async throws {
    try await testGracefulShutdown { trigger in
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { try await worker.run() }
            }
            do {
                try await body()
            } catch {
                trigger.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
            trigger.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

/// Collects what handlers did, for assertions and for awaiting progress.
final class Recorder: Sendable {
    struct Execution: Sendable {
        let job: String
        let attempt: Int
        let worker: String
        let at: ContinuousClock.Instant
    }

    private let state = Mutex<[Execution]>([])

    func record(_ context: JobContext) {
        state.withLock { $0.append(Execution(job: "\(context.id)", attempt: context.attempt, worker: context.workerName, at: .now)) }
    }

    var executions: [Execution] { state.withLock { $0 } }
    var count: Int { state.withLock { $0.count } }

    /// Waits until at least `count` executions were recorded, failing the test after `limit`.
    func waitFor(_ count: Int, within limit: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await waitUntil(within: limit, "\(count) executions were recorded", sourceLocation: sourceLocation) {
            self.count >= count
        }
    }
}

/// Polls `condition` until it holds or `limit` passes (for state that lives in Redis).
/// An error from `condition` counts as "not yet"; the last one is reported on timeout.
func waitUntil(
    within limit: Duration = .seconds(60), _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch {
            lastError = error
        }
        if ContinuousClock.now >= deadline {
            Issue.record("timed out after \(limit) waiting until \(what)\(lastError.map { "; last error: \($0)" } ?? "")", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// The `CLIENT LIST` line of a connection waiting in `XREADGROUP … BLOCK`, if there is one;
/// with `withinASecond`, only one whose read was sent less than a second ago.
func blockedReadClient(_ fixture: QueueFixture, withinASecond: Bool = false) async throws -> Substring? {
    let clients = (try await fixture.redis("CLIENT", "LIST").string ?? "").split(separator: "\n")
    return clients.first {
        $0.contains(" flags=b ") && $0.contains(" cmd=xreadgroup") && (!withinASecond || $0.contains(" idle=0 "))
    }
}

struct Greeting: JobParameters {
    static let jobName = "greeting"
    let name: String
}

/// A map from a flat `[name, value, ...]` reply such as one XINFO record.
func infoMap(_ reply: RESPValue) -> [String: RESPValue] {
    var map: [String: RESPValue] = [:]
    let items = reply.array ?? []
    var index = 0
    while index + 1 < items.count {
        map[items[index].string ?? ""] = items[index + 1]
        index += 2
    }
    return map
}

/// A one-shot gate: `wait()` returns once `open()` was called (and at once after that).
/// Waiting ignores cancellation, on purpose: it stands for code that does not stop.
final class AsyncGate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
