import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Worker: concurrency bounds the handlers, also for a read over both streams")
struct ConcurrencyBoundTests {
    static let jobs = (1...3).map { "main-\($0)" } + (1...3).map { "retry-\($0)" }
    /// The worker's block time in the tests that fill both streams.
    static let blockTime = Duration.milliseconds(100)

    @Test("jobs a read delivers beyond the free slots wait for a slot, then run as slots free")
    func excessRunsAsSlotsFree() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("bound")
            let keys = QueueKeys(queue: queue)
            let log = CapturedLog()
            let handlers = HandlerCount()
            let gate = AsyncGate()
            let client = try Self.patientClient(fixture)
            defer { client.shutdown() }
            let worker = Self.worker(fixture, client: client, log: log, handlers: handlers) { await gate.wait() }
            try await running(worker) {
                try await Self.fillBothStreamsBeforeTheNextRead(fixture, keys)
                try await waitUntil("the worker holds back what did not fit") {
                    log.contains("a read delivered more jobs than slots were free")
                }
                try await waitUntil("two handlers run") { handlers.names.count >= 2 }
                #expect(Set(handlers.names) == ["main-1", "main-2"])
                gate.open()
                try await waitUntil("every job ran") { handlers.names.count >= 6 }
            }
            #expect(handlers.most == 2)
            #expect(handlers.names.sorted() == Self.jobs)
            // the two that waited ran right after the first two, before anything else was read
            #expect(Set(handlers.names[2..<4]) == ["retry-1", "retry-2"])
            #expect(try await fixture.redis("ZCARD", keys.done(.default)) == .integer(6))
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            #expect(try await fixture.redis("XPENDING", keys.retry(.default), "default").array?.first == .integer(0))
        }
    }

    @Test("jobs waiting for a slot when the worker stops are handed back unstarted, as the same attempt")
    func excessHandedBackAtShutdown() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("bound")
            let keys = QueueKeys(queue: queue)
            let log = CapturedLog()
            let handlers = HandlerCount()
            let client = try Self.patientClient(fixture)
            defer { client.shutdown() }
            // each handler runs until the grace period is over and the worker cancels it
            let worker = Self.worker(fixture, client: client, log: log, handlers: handlers) {
                try await Task.sleep(for: .seconds(60))
            }
            try await running(worker) {
                try await Self.fillBothStreamsBeforeTheNextRead(fixture, keys)
                try await waitUntil("the worker holds back what did not fit") {
                    log.contains("a read delivered more jobs than slots were free")
                }
                let pending = try await fixture.redis("XPENDING", keys.stream, "default").array?.first
                let pendingRetries = try await fixture.redis("XPENDING", keys.retry(.default), "default").array?.first
                #expect(pending == .integer(2) && pendingRetries == .integer(2), "the read delivered two jobs from each stream")
                try await waitUntil("two handlers run") { handlers.names.count >= 2 }
                // then the worker stops: the grace period ends the two handlers, and the two
                // jobs waiting for a slot are handed back without having started
            }
            #expect(handlers.most == 2)
            #expect(Set(handlers.names) == ["main-1", "main-2"])
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            #expect(try await fixture.redis("XPENDING", keys.retry(.default), "default").array?.first == .integer(0))
            // the four handed back (the two cut off and the two that waited), and retry-3,
            // which no read delivered
            #expect(try await handedBack(fixture, keys) == 5)

            // the next worker runs all six, each as its first attempt
            let rerun = Recorder()
            var next = fixture.worker()
            next.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in rerun.record(context) }
            try await running(next) {
                try await rerun.waitFor(6)
            }
            #expect(rerun.executions.map(\.attempt) == Array(repeating: 1, count: 6))
            #expect(Set(rerun.executions.map(\.job)).count == 6)
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        }
    }

    @Test("jobs a read brings after the worker's task was cancelled are handed back unstarted, not left pending")
    func deliveredAfterCancellationHandedBack() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("cancelled")
            let keys = QueueKeys(queue: queue)
            let count = 20000
            try await fixture.producer.push((0..<count).map { Greeting(name: "\($0)") }, to: queue)
            var configuration = fixture.workerConfiguration()
            // the upkeep sends nothing while Redis is paused: the only commands held back are
            // the fetch loop's (and the acknowledgement flusher's)
            configuration.heartbeatInterval = .seconds(30)
            configuration.heartbeatTTL = .seconds(60)
            configuration.promoteInterval = .seconds(60)
            configuration.trimInterval = .seconds(3600)
            let recorder = Recorder()
            let admin = RedisClient(configuration: try RedisConfiguration(url: fixture.url))
            defer { admin.shutdown() }
            // The 200th job pauses Redis from its handler, so the worker is certainly busy then,
            // with thousands of jobs left: its next read is held back with jobs to bring.
            let pause = Mutex<(sent: Bool, done: Bool)>((false, false))
            // no retries: a job left pending would be reclaimed as a second delivery and
            // dead-lettered unrun (max deliveries)
            let client = try Self.patientClient(fixture)
            defer { client.shutdown() }
            var worker = SpoolWorker(client: client, configuration: configuration, logger: fixture.logger)
            worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in
                recorder.record(context)
                let first = recorder.count >= 200 && pause.withLock { state in
                    defer { state.sent = true }
                    return !state.sent
                }
                if first {
                    _ = try await admin.send(RedisCommand("CLIENT", "PAUSE", "50000", "WRITE"))
                    pause.withLock { $0.done = true }
                }
            }
            let run = Task { try await worker.run() }
            try await waitUntil("Redis is paused") { pause.withLock { $0.done } }
            // A busy worker's read goes out as `MULTI`, `XACK`…, `EXEC`, `XREADGROUP`: the pause
            // holds back the `XACK` inside the transaction (flags `xb`), or the read itself. On
            // a loaded machine the acknowledgement flusher's script (`EVALSHA`) may go out
            // first: the connection then writes nothing more until its reply is in, and the
            // worker's next read, if it was sent by then, waits in the client.
            var seen = ""
            var readHeld = false
            var flusherHeld = false
            try await waitUntil("the worker's next read (or the flusher's script) waits for the pause to end") {
                seen = try await admin.send(RedisCommand("CLIENT", "LIST")).string ?? ""
                let lines = seen.split(separator: "\n")
                readHeld = lines.contains { line in
                    (line.contains(" flags=b ") && line.contains(" cmd=xreadgroup "))
                        || (line.contains(" flags=xb ") && line.contains(" cmd=xack "))
                }
                flusherHeld = lines.contains { $0.contains(" flags=b ") && $0.contains(" cmd=evalsha ") }
                return readHeld || flusherHeld
            }
            if !readHeld && !flusherHeld { Issue.record("the clients Redis listed last:\n\(seen)") }
            run.cancel()
            _ = try await admin.send(RedisCommand("CLIENT", "UNPAUSE"))
            try await run.value

            // what the read brought after the cancellation was handed back, not left pending
            let pending = try await fixture.redis("XPENDING", keys.stream, "default").array?.first
            #expect(pending == .integer(0))
            if readHeld {
                // (a read held back in Redis certainly brought jobs after the cancellation)
                #expect(try await handedBack(fixture, keys) > 0, "no job reached the worker after its cancellation")
            }

            // the next worker runs every job not done yet, and none is dead-lettered
            var next = fixture.worker()
            next.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in recorder.record(context) }
            try await running(next) {
                try await waitUntil("every job is done") {
                    try await fixture.redis("ZCARD", keys.done(.default)) == .integer(Int64(count))
                }
            }
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
            #expect(Set(recorder.executions.map(\.job)).count == count)
        }
    }

    /// A client for a worker whose commands wait out a `CLIENT PAUSE`: its command timeout is
    /// longer than a pause lasts, even when a loaded test run is slow to end the pause (a
    /// command that timed out would cost the worker its connection, and the read with it).
    static func patientClient(_ fixture: QueueFixture) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: fixture.url)
        configuration.commandTimeout = .seconds(60)
        return RedisClient(configuration: configuration)
    }

    /// A worker with two slots on queue `bound`, logging to `log`; each handler counts itself
    /// in `handlers` while it runs `body`.
    static func worker(
        _ fixture: QueueFixture, client: RedisClient, log: CapturedLog, handlers: HandlerCount,
        body: @escaping @Sendable () async throws -> Void
    ) -> SpoolWorker {
        var configuration = fixture.workerConfiguration()
        configuration.fetchBlockTime = blockTime
        // no reclaim is due while the test pauses Redis: the worker would send it before its
        // next read, on the shared connection, where it would wait for the pause to end
        configuration.heartbeatInterval = .seconds(30)
        configuration.heartbeatTTL = .seconds(60)
        configuration.gracePeriod = .milliseconds(300)
        let queue = try! QueueName("bound")
        var worker = SpoolWorker(client: client, configuration: configuration, logger: log.logger)
        worker.subscribe(queue: queue, options: .init(concurrency: 2))
        worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { job, _ in
            handlers.started(job.name)
            defer { handlers.ended() }
            try await body()
        }
        return worker
    }

    /// Adds ``jobs`` (three to the main stream, three to the retry stream) so that the
    /// worker's next blocking read starts with both streams filled.
    ///
    /// A blocking read names the main and the retry stream with one `COUNT`, which Redis
    /// applies to each stream: with jobs in both at the moment it runs, it delivers up to
    /// twice the free slots. Redis 7.0 serves a read that is already blocked from one stream
    /// only, so the read must *start* with both streams filled. `CLIENT PAUSE WRITE` holds
    /// back write commands (`XREADGROUP` is one) and runs them in the order they came once
    /// the pause ends. The pause and a script that adds the jobs go out in one flush on one
    /// connection, so Redis holds the script back before it reads any other client's command:
    /// whatever read the worker sends next comes after it.
    static func fillBothStreamsBeforeTheNextRead(_ fixture: QueueFixture, _ keys: QueueKeys) async throws {
        try await waitUntil("the groups exist") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
        // past its first round (a reclaim, a read of the main stream alone): it reads blocking
        try await waitUntil("the worker waits in a blocking read") { try await blockedReadClient(fixture) != nil }
        // While Redis is paused, the worker's upkeep waits on the shared client's connection,
        // and so would any command sent after it there: the test talks to Redis on connections
        // of its own.
        let admin = RedisClient(configuration: try RedisConfiguration(url: fixture.url))
        var writing = try RedisConfiguration(url: fixture.url)
        writing.commandTimeout = .seconds(60)   // its script waits for the pause to end
        let writer = RedisClient(configuration: writing)
        defer {
            admin.shutdown()
            writer.shutdown()
        }
        func clients() async throws -> [Substring] {
            (try await admin.send(RedisCommand("CLIENT", "LIST")).string ?? "").split(separator: "\n")
        }
        // ARGV: six job ids, then their names; the first three go to the main stream
        var add = RedisCommand("EVAL", """
            for i = 1, 6 do
              local key = KEYS[1]
              if i > 3 then key = KEYS[2] end
              redis.call('XADD', key, '*', 'v', '1', 'id', ARGV[i], 'type', 'greeting', 'payload', '{"name":"' .. ARGV[i + 6] .. '"}')
            end
            """, "2", keys.stream, keys.retry(.default))
        for _ in jobs { add.append("\(JobID())") }
        for job in jobs { add.append(job) }
        let added = Task { try await writer.pipeline([RedisCommand("CLIENT", "PAUSE", "50000", "WRITE"), add]) }
        try await waitUntil("the script waits for the pause to end") {
            try await clients().contains { $0.contains(" flags=b ") && $0.contains(" cmd=eval ") }
        }
        // A read the worker sent before the pause, blocked on the keys, times out within its
        // block time (Redis ends blocked reads during a pause too); the worker's next read is
        // held back behind the script. The two look alike in CLIENT LIST, so a blocked read
        // counts only once the block time is well past. (Not CLIENT UNBLOCK: Redis 7.0 crashes
        // when it targets a client held back by a pause.)
        let paused = ContinuousClock.now
        try await waitUntil("the worker's next read waits for the pause to end") {
            guard ContinuousClock.now - paused > Self.blockTime * 5 else { return false }
            return try await clients().contains { $0.contains(" flags=b ") && $0.contains(" cmd=xreadgroup") }
        }
        _ = try await admin.send(RedisCommand("CLIENT", "UNPAUSE"))
        let replies = try await added.value
        #expect(replies.allSatisfy { $0.errorMessage == nil }, "\(replies)")
    }
}

/// The handlers running at once, the most seen, and which jobs started, in order.
final class HandlerCount: Sendable {
    private struct State {
        var running = 0
        var most = 0
        var names: [String] = []
    }
    private let state = Mutex(State())

    func started(_ name: String) {
        state.withLock { state in
            state.running += 1
            state.most = max(state.most, state.running)
            state.names.append(name)
        }
    }

    func ended() { state.withLock { $0.running -= 1 } }

    var most: Int { state.withLock { $0.most } }
    var names: [String] { state.withLock { $0.names } }
}

/// The messages a logger wrote, at every level, each with its metadata (the logger's and the
/// line's, rendered as strings).
final class CapturedLog: Sendable {
    private let events = Mutex<[(level: Logger.Level, message: String, metadata: [String: String])]>([])

    var logger: Logger {
        Logger(label: "spool.test") { _ in Handler(log: self) }
    }

    func contains(_ text: String) -> Bool {
        events.withLock { $0.contains { $0.message.contains(text) } }
    }

    /// The levels of the messages that contain `text`, in the order written.
    func levels(of text: String) -> [Logger.Level] {
        events.withLock { $0.filter { $0.message.contains(text) }.map(\.level) }
    }

    /// The metadata of each line, in the order written.
    var metadata: [[String: String]] {
        events.withLock { $0.map(\.metadata) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let message = "\(event.message)"
            let all = metadata.merging(event.metadata ?? [:]) { _, line in line }.mapValues { "\($0)" }
            log.events.withLock { $0.append((event.level, message, all)) }
        }
    }
}
