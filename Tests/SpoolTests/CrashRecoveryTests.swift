import Foundation
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Worker: crash recovery by liveness")
struct CrashRecoveryTests {
    /// Redis refusing writes (out of memory under `noeviction`, the policy `spool health`
    /// asks for) for longer than the heartbeat TTL lapses every heartbeat at once. The worker
    /// took the running job of a live worker whose heartbeat lapsed so (and took its own
    /// refused heartbeat for written: the refusal came back as a value). Consumer `a` is
    /// played by the test.
    @Test("while Redis refuses heartbeats a worker takes no job of a worker whose heartbeat lapsed; it does once one stays gone")
    func refusedHeartbeatsMakeNoWorkerLookDead() async throws {
        try await QueueFixture.with { fixture in
            let server = fixture.server
            let queue = try QueueName("refusing")
            let keys = QueueKeys(queue: queue)
            let heartbeatOfA = keys.heartbeat(.default, consumer: "a")
            _ = try server.cli("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            let held = try await fixture.producer.push(Greeting(name: "held"), to: queue)
            _ = try server.cli("XREADGROUP", "GROUP", "default", "a", "COUNT", "1", "STREAMS", keys.stream, ">")
            _ = try server.cli("SET", heartbeatOfA, "1", "PX", "60000")
            let recorder = Recorder()
            var configuration = fixture.workerConfiguration(name: "b")
            configuration.heartbeatInterval = .milliseconds(100)
            configuration.heartbeatTTL = .seconds(3)
            // a heartbeat must be seen gone for the interval, the reconnect backoff and the
            // connect timeout: 1.1 s here, so that 3 s of reads without the refusal check
            // would reclaim
            var clientConfiguration = try RedisConfiguration(url: server.url)
            clientConfiguration.reconnectMaxDelay = .milliseconds(500)
            clientConfiguration.connectTimeout = .milliseconds(500)
            let client = RedisClient(configuration: clientConfiguration)
            defer { client.shutdown() }
            var worker = SpoolWorker(client: client, configuration: configuration, logger: fixture.logger)
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                let before = try await fixture.producer.push(Greeting(name: "before"), to: queue)
                try await waitUntil("the worker ran a job") { recorder.executions.contains { $0.job == "\(before.id)" } }
                // from now on Redis refuses writes; a's heartbeat lapses 4 s on, the worker's own
                // within 3 s (in one flush: a's must not lapse before writes are refused)
                _ = try await client.pipeline([
                    RedisCommand("SET", heartbeatOfA, "1", "PX", "4000"), RedisCommand("CONFIG", "SET", "maxmemory", "1"),
                ])
                try await waitUntil("both heartbeats lapsed") {
                    try server.cli("EXISTS", heartbeatOfA, keys.heartbeat(.default, consumer: "b")) == "0"
                }
                // the worker's fetch loop goes round 15 times more (its blocking reads 200 ms
                // each: 3 s, past the 1.1 s a heartbeat must be seen gone, `LapseWatch`)
                let reads = try Self.blockingReadCalls(server)
                try await waitUntil("15 more reads") { try Self.blockingReadCalls(server) >= reads + 15 }
                let pendingForA = try server.cli("XPENDING", keys.stream, "default", "-", "+", "10", "a").split(separator: "\n")
                #expect(pendingForA.count == 4, "a's job was taken: \(pendingForA)")
                #expect(!recorder.executions.contains { $0.job == "\(held.id)" }, "the worker ran a's job")
                // Redis takes writes again, and a (alive) writes its heartbeat at once
                // (in one flush: two redis-cli runs could be a second apart on a loaded machine)
                _ = try await client.pipeline([
                    RedisCommand("CONFIG", "SET", "maxmemory", "0"), RedisCommand("SET", heartbeatOfA, "1", "PX", "60000"),
                ])
                // a dies: its heartbeat seen gone for the grace, the worker takes the job
                try await waitUntil("the worker's heartbeat is back") {
                    try server.cli("EXISTS", keys.heartbeat(.default, consumer: "b")) == "1"
                }
                #expect(try server.cli("XPENDING", keys.stream, "default", "-", "+", "10", "a").split(separator: "\n").count == 4)
                _ = try server.cli("DEL", heartbeatOfA)
                try await waitUntil("the worker ran a's job") { recorder.executions.contains { $0.job == "\(held.id)" } }
            }
        }
    }

    /// `XREADGROUP` calls Redis served so far (`INFO commandstats`).
    static func blockingReadCalls(_ server: RedisServer) throws -> Int {
        let line = try server.cli("INFO", "commandstats").split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_xreadgroup:") }
        let calls = line?.split(separator: ",").first?.split(separator: "=").last
        return calls.flatMap { Int($0) } ?? 0
    }

    @Test("jobs of a SIGKILLed worker are all reclaimed once its heartbeat lapses, as attempt 2, and its consumer removed")
    func killedWorkerRecovery() async throws {
        try await QueueFixture.with { try await Self.killedWorkerRecovery($0) }
    }

    /// The body of ``killedWorkerRecovery()``, also run on a Redis Cluster by `ClusterSemanticsTests`.
    static func killedWorkerRecovery(_ fixture: QueueFixture) async throws {
        let queue = try QueueName("crashy")
        let keys = QueueKeys(queue: queue)
        let log = try ExecutionLog()
        let child = try TestWorkerProcess.start(url: fixture.url, queue: queue, name: "doomed", mode: "record", log: log, sleepMilliseconds: 60_000)
        defer { child.kill() }
        // the heartbeat is written before the group is created (at `$`): wait for both, or the
        // jobs pushed next could land before the group and never be delivered
        try await waitUntil("the child worker is subscribed") {
            try await fixture.redis("EXISTS", keys.heartbeat(.default, consumer: "doomed"), keys.retry(.default)) == .integer(2)
        }
        let pushed = try await fixture.producer.push((0..<5).map { Greeting(name: "\($0)") }, to: queue)
        try await waitUntil("the child started all five") { log.lines().count == 5 }
        child.kill()

        let recorder = Recorder()
        var survivor = fixture.worker(name: "survivor")
        survivor.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
        try await running(survivor) {
            // The child's heartbeat TTL is 1 s, and a heartbeat is reclaimed once seen gone for
            // a heartbeat interval, the reconnect backoff and the connect timeout (4.2 s here,
            // `LapseWatch`). The limit bounds a hang; how soon is a timing goal, asserted by the
            // `worker-kill` fault scenario (docs/reliability.md), not here.
            try await recorder.waitFor(5, within: .seconds(60))
        }
        #expect(Set(recorder.executions.map(\.job)) == Set(pushed.map { "\($0.id)" }))
        #expect(recorder.executions.allSatisfy { $0.attempt == 2 }, "the crashed delivery counts as an attempt")
        let consumers = try await fixture.redis("XINFO", "CONSUMERS", keys.stream, "default").array ?? []
        #expect(!consumers.contains { infoMap($0)["name"]?.string == "doomed" }, "the dead consumer was removed")
    }

    /// With one name for every restart (a fixed `consumerName`), each run finds the job
    /// pending under its own name: it must still count a delivery each time.
    @Test("a job that kills its worker every time ends in the dead-letter stream after max attempts",
          arguments: ["named apart", "restarted under one name"])
    func crashLoopDeadLetters(_ naming: String) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("poison")
            let keys = QueueKeys(queue: queue)
            let log = try ExecutionLog()
            let job = try await fixture.producer.push(Greeting(name: "poison"), to: queue, options: PushOptions(maxAttempts: 3))
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            var generation = 0
            while try await fixture.redis("XLEN", keys.dead(.default)) != .integer(1) {
                generation += 1
                try #require(generation <= 6, "the job was not dead-lettered after \(generation - 1) worker deaths")
                let name = naming == "named apart" ? "victim-\(generation)" : "victim"
                let child = try TestWorkerProcess.start(url: fixture.url, queue: queue, name: name, mode: "crash", log: log)
                defer { child.kill() }
                try await waitUntil(within: .seconds(30), "worker \(generation) died or dead-lettered the job") {
                    if !child.isRunning { return true }
                    return try await fixture.redis("XLEN", keys.dead(.default)) == .integer(1)
                }
            }
            let runs = log.lines()
            #expect(runs.count == 3, "ran once per allowed attempt: \(runs)")
            #expect(runs.map { $0.split(separator: " ")[1] } == ["1", "2", "3"])
            let dead = try await deadLetterFields(fixture, keys)
            #expect(dead["dead_reason"] == "max_deliveries")
            #expect(dead["id"] == "\(job.id)")
            #expect(dead["dead_attempts"] == "3" && dead["attempt"] == "3", "the attempts made, not the one refused: \(dead)")
        }
    }

    @Test("a worker restarted under its consumer name runs what its earlier run left pending, as a new delivery")
    func restartUnderSameName() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("renamed")
            let keys = QueueKeys(queue: queue)
            let pushed = try await fixture.producer.push((0..<2).map { Greeting(name: "\($0)") }, to: queue)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            // the earlier run under the name read both, then died
            let read = try await fixture.redis("XREADGROUP", "GROUP", "default", "fixed", "COUNT", "10", "STREAMS", keys.stream, ">")
            try #require(read.array?.first?.array?[1].array?.count == 2)

            let recorder = Recorder()
            var worker = fixture.worker(name: "fixed") { configuration in
                // only the hand-over can bring them back within the test's wait
                configuration.visibilityTimeout = .seconds(600)
            }
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await recorder.waitFor(2)
                try await waitUntil("the earlier run's consumer is gone") {
                    let consumers = try await fixture.redis("XINFO", "CONSUMERS", keys.stream, "default").array ?? []
                    return !consumers.contains { infoMap($0)["name"]?.string == "fixed~previous" }
                }
            }
            #expect(recorder.executions.map(\.job).sorted() == pushed.map { "\($0.id)" }.sorted(), "each ran once")
            #expect(recorder.executions.allSatisfy { $0.attempt == 2 }, "the earlier run's delivery counts as an attempt")
        }
    }

    @Test("entries a dead worker held twice (suspects) run one at a time, each after the previous one was acknowledged")
    func suspectsRunAloneAfterAcknowledgement() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("suspects")
            let keys = QueueKeys(queue: queue)
            let pushed = try await fixture.producer.push((0..<3).map { Greeting(name: "\($0)") }, to: queue, options: PushOptions(maxAttempts: 5))
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            // two dead consumers that held them, two and one, each delivered twice (delivery count 2)
            for (ghost, count) in [("ghost-1", 2), ("ghost-2", 1)] {
                let read = try await fixture.redis("XREADGROUP", "GROUP", "default", ghost, "COUNT", "\(count)", "STREAMS", keys.stream, ">")
                let ids = (read.array?.first?.array?[1].array ?? []).compactMap { $0.array?.first?.string }
                try #require(ids.count == count)
                _ = try await fixture.client.send(RedisCommand("XCLAIM", [keys.stream, "default", ghost, "0"] + ids))
            }

            struct Run: Sendable { let job: String; let deliveries: Int; let overlapping: Int; let pendingAtStart: Int }
            let runs = Mutex<[Run]>([])
            let active = Atomic<Int>(0)
            var worker = fixture.worker(name: "heir")
            worker.register(Greeting.self, queue: queue) { _, context in
                let overlapping = active.wrappingAdd(1, ordering: .relaxed).oldValue
                defer { active.wrappingSubtract(1, ordering: .relaxed) }
                let pending = try await fixture.redis("XPENDING", keys.stream, "default").array?.first?.int ?? -1
                runs.withLock { $0.append(Run(job: "\(context.id)", deliveries: context.deliveryCount, overlapping: overlapping, pendingAtStart: pending)) }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await running(worker) {
                try await waitUntil("the three jobs completed") { try await fixture.redis("ZCARD", keys.done(.default)) == .integer(3) }
            }
            let seen = runs.withLock { $0 }
            #expect(Set(seen.map(\.job)) == Set(pushed.map { "\($0.id)" }) && seen.count == 3, "each ran once: \(seen)")
            #expect(seen.allSatisfy { $0.deliveries == 3 }, "\(seen)")
            #expect(seen.allSatisfy { $0.overlapping == 0 }, "a suspect ran beside another handler: \(seen)")
            // the k-th run starts when the k earlier ones are acknowledged: 3 - k still pending
            #expect(seen.map(\.pendingAtStart) == [3, 2, 1], "\(seen)")
        }
    }

    @Test("a suspect running alone gets the grace period at shutdown: cut off past it, and handed back")
    func suspectRunningAloneAtShutdown() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("suspects")
            let keys = QueueKeys(queue: queue)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            let suspect = try await fixture.producer.push(Greeting(name: "suspect"), to: queue)
            try await Self.deliverTwiceToGhost(fixture, keys, count: 1)
            let started = Recorder()
            try await running(Self.heir(fixture, queue: queue, recording: started)) {
                try await started.waitFor(1)
            }
            #expect(started.executions.map(\.job) == ["\(suspect.id)"])
            #expect(started.executions.map(\.attempt) == [3], "run as a suspect: its third delivery")
            // cut off at the end of the grace period and handed back, not run to its end
            #expect(try await fixture.redis("ZSCORE", keys.done(.default), "\(suspect.id)") == .null)
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            #expect(try await handedBack(fixture, keys) == 1)
        }
    }

    /// With 2 attempts, the suspect's third delivery is past them: it is dead-lettered as it
    /// would be when run, rather than handed back to run as "attempt 3 of 2".
    @Test("a suspect still waiting to run alone when the worker stops is handed back, not left pending (dead-lettered past its attempts)",
          arguments: [5, 2])
    func suspectWaitingAtShutdown(maxAttempts: Int) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("suspects")
            let keys = QueueKeys(queue: queue)
            let started = Recorder()
            try await Self.runHeirWithFirstJob(fixture, keys: keys, recording: started) { first in
                // a suspect appears while the first job runs: added and read for a dead
                // consumer in one transaction (the worker's blocked read finds nothing), then
                // delivered to it a second time
                let envelope = try JobEnvelope.make(Greeting(name: "suspect"), maxAttempts: maxAttempts)
                let fields = envelope.encodedFields.map { String(decoding: $0, as: UTF8.self) }
                _ = try await fixture.client.pipeline([
                    RedisCommand("MULTI"), RedisCommand("XADD", [keys.stream, "*"] + fields),
                    RedisCommand("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "1", "STREAMS", keys.stream, ">"),
                    RedisCommand("EXEC"),
                ])
                try await Self.deliverTwiceToGhost(fixture, keys, count: 1, alreadyRead: true)
                try await waitUntil("the worker reclaimed the suspect and waits to run it alone") {
                    let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "10", "heir").array ?? []
                    return pending.count == 2
                }
                #expect(started.executions.map(\.job) == ["\(first.id)"])
            }
            #expect(started.count == 1)
            // the first cut off and handed back; the suspect never started: handed back too,
            // or dead-lettered past its attempts
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            let pastItsAttempts = maxAttempts < 3
            #expect(try await handedBack(fixture, keys) == (pastItsAttempts ? 1 : 2))
            let dead = try await fixture.redis("XRANGE", keys.dead(.default), "-", "+").array ?? []
            #expect(dead.count == (pastItsAttempts ? 1 : 0))
            if pastItsAttempts {
                let record = (dead.first?.array?.last?.array ?? []).map { $0.string ?? "" }
                #expect(record.contains("max_deliveries"), "\(record)")
            }
        }
    }

    @Test("a suspect found after a reclaim's reply was lost still waits to run alone")
    func recoveredSuspectRunsAlone() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("suspects")
            let keys = QueueKeys(queue: queue)
            let started = Recorder()
            try await Self.runHeirWithFirstJob(fixture, keys: keys, recording: started) { first in
                var blocked: String?
                try await waitUntil("the worker waits in a blocking read") {
                    blocked = try await blockedReadClient(fixture).flatMap { $0.split(separator: " ").first { $0.hasPrefix("id=") } }
                        .map { String($0.dropFirst(3)) }
                    return blocked != nil
                }
                // a suspect claimed for the worker (its third delivery) by a reclaim whose reply
                // never came: added and read for a dead consumer in one transaction, so the
                // blocked read finds nothing, then claimed for `heir`
                let envelope = try JobEnvelope.make(Greeting(name: "suspect"))
                let replies = try await fixture.client.pipeline([
                    RedisCommand("MULTI"), RedisCommand("XADD", [keys.stream, "*"] + envelope.encodedFields.map { String(decoding: $0, as: UTF8.self) }),
                    RedisCommand("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "1", "STREAMS", keys.stream, ">"),
                    RedisCommand("EXEC"),
                ])
                let id = try #require(replies.last?.array?.first?.string)
                _ = try await fixture.client.send(RedisCommand("XCLAIM", keys.stream, "default", "heir", "0", id, "RETRYCOUNT", "3", "JUSTID"))
                // the worker's read fails: it finds the suspect among its pending entries
                let ranges = try await commandCalls(fixture, "xrange")
                try await fixture.redis("CLIENT", "KILL", "ID", try #require(blocked))
                try await waitUntil("the worker read the suspect's fields") { try await commandCalls(fixture, "xrange") > ranges }
                // two heartbeats later (each extends the leases of the jobs waiting), it still waits
                let beats = try await commandCalls(fixture, "xclaim")
                try await waitUntil("two more heartbeats") { try await commandCalls(fixture, "xclaim") >= beats + 2 }
                #expect(started.executions.map(\.job) == ["\(first.id)"], "the suspect ran beside the first job")
            }
        }
    }

    /// Runs ``heir(_:queue:recording:)`` on `keys`' queue and `body` once a first job (passed
    /// to it) has started there and runs on, then stops the worker.
    private static func runHeirWithFirstJob(
        _ fixture: QueueFixture, keys: QueueKeys, recording started: Recorder, _ body: (PushResult) async throws -> Void
    ) async throws {
        try await running(heir(fixture, queue: keys.queue, recording: started)) {
            try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
            let first = try await fixture.producer.push(Greeting(name: "first"), to: keys.queue)
            try await started.waitFor(1)
            try await body(first)
        }
    }

    /// A worker named `heir` with a 300 ms grace period whose handler records each job in
    /// `started`, then runs until the grace period is over and the worker cancels it.
    /// (It sleeps 5 minutes: with 10 s, a full suite that stalled these tests' waits for 10 s
    /// let the first job end on its own, and the suspect then ran after it, as it should,
    /// failing the test.)
    private static func heir(_ fixture: QueueFixture, queue: QueueName, recording started: Recorder) -> SpoolWorker {
        var worker = fixture.worker(name: "heir") { $0.gracePeriod = .milliseconds(300) }
        worker.register(Greeting.self, queue: queue) { _, context in
            started.record(context)
            try await Task.sleep(for: .seconds(300))
        }
        return worker
    }

    /// Delivers `count` new entries to the consumer `ghost` (which never beats), then once more
    /// with `XCLAIM`: delivery count 2, so the next reclaim makes them suspects (3). With
    /// `alreadyRead`, the ghost has read them already.
    private static func deliverTwiceToGhost(_ fixture: QueueFixture, _ keys: QueueKeys, count: Int, alreadyRead: Bool = false) async throws {
        if !alreadyRead {
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "\(count)", "STREAMS", keys.stream, ">")
        }
        let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "\(count)", "ghost").array ?? []
        let ids = pending.compactMap { $0.array?.first?.string }
        try #require(ids.count == count)
        _ = try await fixture.client.send(RedisCommand("XCLAIM", [keys.stream, "default", "ghost", "0"] + ids))
    }

    @Test("a handler whose own timeout is longer than its subscription's keeps its lease: runs once")
    func handlerTimeoutLongerThanSubscriptionsKeepsLease() async throws {
        // Without the handler's own timeout in the lease, extension stops 0.2 s + 3 s (the
        // heartbeat TTL) after the start and worker b reclaims the job 2 s later: about 5.2 s
        // into the 6.5 s run.
        let recorder = try await runLongJobBesideALiveWorker(queue: "patient") { worker, queue in
            worker.subscribe(queue: queue, options: .init(handlerTimeout: .milliseconds(200)))
            return .seconds(10)
        }
        #expect(recorder.count == 1, "the lease lapsed after the subscription's 200 ms timeout: \(recorder.executions.map(\.worker))")
    }

    @Test("a long handler (3× the visibility timeout) in a live worker runs once, with delivery count 1")
    func longHandlerRunsOnce() async throws {
        let recorder = try await runLongJobBesideALiveWorker(queue: "long") { _, _ in nil }
        #expect(recorder.count == 1, "ran on \(recorder.executions.map(\.worker))")
        #expect(recorder.executions.first?.attempt == 1)
    }

    /// Two live workers (visibility timeout 2 s, heartbeat TTL 3 s, beats every 0.2 s) and one
    /// job whose handler runs 6.5 s, over three visibility timeouts: returns who ran it.
    /// `configure` sets up each worker's subscription and returns the handler's own timeout.
    ///
    /// The margins are wide on purpose: a live worker whose upkeep task stalls longer than
    /// 1.8 s (a loaded CI machine) would rightly lose the job, and the test would fail for
    /// the machine, not for Spool.
    private func runLongJobBesideALiveWorker(
        queue name: String, configure: (inout SpoolWorker, QueueName) -> Duration?
    ) async throws -> Recorder {
        let recorder = Recorder()
        try await QueueFixture.with { fixture in
            let queue = try QueueName(name)
            var workers: [SpoolWorker] = []
            for worker in ["a", "b"] {
                var worker = fixture.worker(name: worker) { $0.visibilityTimeout = .seconds(2) }
                let timeout = configure(&worker, queue)
                worker.register(Greeting.self, queue: queue, timeout: timeout) { _, context in
                    recorder.record(context)
                    try await Task.sleep(for: .milliseconds(6_500))
                }
                workers.append(worker)
            }
            let keys = QueueKeys(queue: queue)
            try await running(workers[0], workers[1]) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                try await fixture.producer.push(Greeting(name: name), to: queue)
                try await recorder.waitFor(1)
                try await waitUntil(within: .seconds(30), "the job completed") {
                    try await fixture.redis("ZCARD", keys.done(.default)) == .integer(1)
                }
            }
        }
        return recorder
    }
}

/// An append-only file the child workers log executions to, removed when the log goes away.
final class ExecutionLog: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("spool-log-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func lines() -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }
}

/// A `spool-test-worker` child process.
///
/// `@unchecked Sendable`: `process` is only started in `start`, then read (`isRunning`,
/// `processIdentifier`) and waited for; Foundation's Process is safe for that across threads.
final class TestWorkerProcess: @unchecked Sendable {
    let process: Process

    private init(_ process: Process) { self.process = process }

    static func start(url: String, queue: QueueName, name: String, mode: String, log: ExecutionLog, sleepMilliseconds: Int = 0) throws -> TestWorkerProcess {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = [url, queue.rawValue, "default", name, mode, log.path, String(sleepMilliseconds)]
        try process.run()
        return TestWorkerProcess(process)
    }

    /// The `spool-test-worker` built beside the tests.
    static func binary() throws -> URL {
        let directory = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).deletingLastPathComponent()
        let binary = directory.appendingPathComponent("spool-test-worker")
        if FileManager.default.fileExists(atPath: binary.path) { return binary }
        return directory.deletingLastPathComponent().appendingPathComponent("spool-test-worker")
    }

    /// Running: Foundation has not seen it exit, and the kernel does not show it ended. With
    /// many tests spawning at once Foundation can miss a child's exit (see ChildProgram in
    /// SpoolCLITests): the child then stays a zombie, which `/proc` shows.
    var isRunning: Bool {
        guard process.isRunning else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// SIGKILL. Not waited for: a killed process runs no more code, Foundation reaps it, and
    /// `waitUntilExit` would hold a thread of the cooperative pool (see `runOffThePool`).
    func kill() {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
    }
}
