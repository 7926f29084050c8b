import Foundation
import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization

/// One scenario run: a private redis-server, worker processes, an in-process producer, the
/// three history logs, and the fault injectors that act on them.
public final class FaultRun: Sendable {
    /// The scenario's queue.
    public let queue: QueueName
    public let keys: QueueKeys
    public let server: RedisServer
    /// Where each client reaches Redis.
    public let links: Links
    let network: RunNetwork
    /// The run's directory: logs, effect files, worker output.
    public let directory: String
    public let client: RedisClient
    public let producer: SpoolProducer
    let enqueueLog: HistoryLog
    let faultLog: HistoryLog
    var executionLogPath: String { directory + "/executions.log" }
    let workerSettings: [String: String]
    let workers = Mutex<[WorkerProcess]>([])
    let replacementMode: String
    let names = Atomic<Int>(0)
    let random: Mutex<SplitMix64>
    let supervising = Atomic<Bool>(true)
    /// While set, producers wait before sending the next job (see `pauseProducers`).
    let producersPaused = Atomic<Bool>(false)
    /// Enqueues sent and not yet logged, plus producers about to check `producersPaused`.
    let enqueuesInFlight = Atomic<Int>(0)

    init(server: RedisServer, network: RunNetwork, seed: UInt64, workerSettings: [String: String], replacementMode: String) throws {
        self.server = server
        self.network = network
        self.links = try network.links(for: server)
        self.queue = try QueueName("faults")
        self.keys = QueueKeys(queue: queue)
        var template = Array("/tmp/spool-faults.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FaultsError("mkdtemp failed") }
        directory = String(cString: made)
        enqueueLog = try HistoryLog(path: directory + "/enqueues.log")
        faultLog = try HistoryLog(path: directory + "/faults.log")
        client = RedisClient(configuration: try Self.clientConfiguration(url: links.producer))
        var logger = Logger(label: "spool.faults")
        logger.logLevel = .critical
        producer = SpoolProducer(client: client, logger: logger)
        var settings = ["effects": directory + "/effects", "concurrency": "8", "grace-ms": "5000"]
        settings.merge(workerSettings) { _, new in new }
        self.workerSettings = settings
        self.replacementMode = replacementMode
        random = Mutex(SplitMix64(seed: seed ^ 0x5EED))
    }

    /// The producer's (and the checker's) client settings: command timeout 2 s, connect
    /// timeout 1 s, reconnect delay capped at 500 ms.
    public static func clientConfiguration(url: String) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: url)
        configuration.commandTimeout = .seconds(2)
        configuration.connectTimeout = .seconds(1)
        configuration.reconnectMaxDelay = .milliseconds(500)
        return configuration
    }

    /// Creates the group at `0` so no job enqueued before the first worker is skipped.
    func createGroup() async throws {
        let reply = try await client.send(RedisCommand("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM"))
        if let error = reply.errorMessage, !error.hasPrefix("BUSYGROUP") { throw FaultsError("XGROUP CREATE: \(error)") }
    }

    // MARK: - Workers

    /// Starts a worker process; `mode` defaults to `faults`, `url` to ``Links/workers``.
    @discardableResult
    public func startWorker(mode: String = "faults", settings extra: [String: String] = [:], url: String? = nil) throws -> WorkerProcess {
        let name = "w\(names.wrappingAdd(1, ordering: .relaxed).newValue)"
        let worker = try WorkerProcess(
            name: name, url: url ?? links.workers, queue: queue.rawValue, mode: mode, log: executionLogPath,
            settings: workerSettings.merging(extra) { _, new in new }, outputDirectory: directory
        )
        workers.withLock { $0.append(worker) }
        return worker
    }

    /// The running workers.
    public var runningWorkers: [WorkerProcess] { workers.withLock { $0.filter(\.isRunning) } }

    /// Replaces every worker that exited (crashed or killed) with a fresh one, until stopped.
    func supervise() async {
        while supervising.load(ordering: .relaxed) {
            let exited = workers.withLock { list in
                let gone = list.filter { !$0.isRunning }
                list.removeAll { !$0.isRunning }
                return gone
            }
            for worker in exited {
                worker.waitForExit()
                faultLog.append("exit \(worker.name) \(nowMillis())")
                _ = try? startWorker(mode: replacementMode)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGKILLs one running worker chosen by the seeded generator; the supervisor replaces it.
    public func killRandomWorker() {
        let candidates = runningWorkers
        guard !candidates.isEmpty else { return }
        let victim = candidates[random.withLock { Int.random(in: 0..<candidates.count, using: &$0) }]
        faultLog.append("kill \(victim.name) \(nowMillis())")
        victim.kill9()
    }

    /// A seeded random number in `range`.
    public func randomInt(in range: ClosedRange<Int>) -> Int {
        random.withLock { Int.random(in: range, using: &$0) }
    }

    /// Records a fault's start and end around `body`.
    public func fault<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        faultLog.append("fault \(name) start \(nowMillis())")
        let result = try await body()
        faultLog.append("fault \(name) end \(nowMillis())")
        return result
    }

    /// Records a note in the fault log.
    public func note(_ text: String) {
        faultLog.append("note \(text)")
    }

    // MARK: - Checking

    /// The ids of the dead-lettered jobs, read from Redis.
    public func deadLetterIDs() async throws -> [String] {
        var ids: [String] = []
        var start = "-"
        while true {
            let reply = try await client.send(RedisCommand("XRANGE", keys.dead(.default), start, "+", "COUNT", "1000"))
            let entries = reply.array ?? []
            for entry in entries {
                let parts = entry.array ?? []
                guard parts.count == 2 else { continue }
                let fields = parts[1].array ?? []
                var index = 0
                while index + 1 < fields.count {
                    if fields[index].string == "id", let id = fields[index + 1].string { ids.append(id) }
                    index += 2
                }
            }
            guard entries.count == 1000, let last = entries.last?.array?.first?.string else { return ids }
            start = "(" + last
        }
    }

    /// The history so far.
    public func history() -> History {
        History.read(enqueueLog: enqueueLog.path, executionLog: executionLogPath, faultLog: faultLog.path, effectsDirectory: directory + "/effects")
    }

    /// Checks the run now.
    public func check() async throws -> Report {
        let dead = try await deadLetterIDs()
        return Checker.check(history(), deadLetters: dead)
    }

    /// Waits until every acked job is handled or dead-lettered, or the queue has drained
    /// and nothing happened for two seconds, or no job ran for `limit` (a stall), or ten
    /// minutes pass.
    public func awaitQuiescence(within limit: Duration) async {
        let hardDeadline = ContinuousClock.now + .seconds(600)
        let inspector = SpoolInspector(client: client)
        var lastSize = -1
        var stableSince = ContinuousClock.now
        while ContinuousClock.now < hardDeadline && ContinuousClock.now - stableSince < limit {
            if let report = try? await check(), report.lost == 0, report.deadMismatch == 0 { return }
            let size = (try? FileManager.default.attributesOfItem(atPath: executionLogPath)[.size] as? Int) ?? 0
            if size != lastSize {
                lastSize = size
                stableSince = .now
            }
            if ContinuousClock.now - stableSince > .seconds(2),
               let status = try? await inspector.status(of: queue), let group = status.groups.first,
               group.pending == 0, (group.lag ?? 0) == 0, group.scheduledRetries == 0, group.dueRetries == 0
            {
                return
            }
            try? await Task.sleep(for: .milliseconds(300))
        }
    }

    /// Stops the supervisor and every worker, and shuts the client down.
    func stopAll() {
        supervising.store(false, ordering: .relaxed)
        for worker in workers.withLock({ $0 }) { worker.kill9() }
        client.shutdown()
    }
}
