import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Worker: start failures")
struct WorkerStartTests {
    /// What `worker.run()` threw, or `nil` when it was still running after `limit` (it is then
    /// cancelled and awaited).
    static func startError(of worker: SpoolWorker, within limit: Duration = .seconds(60)) async -> (any Error)? {
        await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask { await runError(of: worker) }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            // the first task to end: run() throwing, or the limit
            let first = await group.next() ?? nil
            group.cancelAll()
            await group.waitForAll()
            return first
        }
    }

    /// What `worker.run()` threw once it ended, or `nil` when it returned.
    static func runError(of worker: SpoolWorker) async -> (any Error)? {
        do {
            try await worker.run()
            return nil
        } catch {
            return error
        }
    }

    /// `worker.run()` threw a one-line `SpoolError` (code `invalidArgument`) whose message
    /// passes `check`, and nothing reached Redis.
    static func expectRefusedBeforeRedis(
        _ worker: SpoolWorker, _ fixture: QueueFixture, _ label: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ check: (String) -> Bool
    ) async throws {
        let error = await startError(of: worker)
        let spoolError = try #require(error as? SpoolError, "\(label): \(String(describing: error))", sourceLocation: sourceLocation)
        #expect(spoolError.code == .invalidArgument, "\(label)", sourceLocation: sourceLocation)
        #expect(check(spoolError.message), "\(label): \(spoolError.message)", sourceLocation: sourceLocation)
        #expect(!spoolError.message.contains("\n"), "\(spoolError.message)", sourceLocation: sourceLocation)
        #expect(try await fixture.redis("DBSIZE") == .integer(0), "\(label)", sourceLocation: sourceLocation)
    }

    @Test("Redis down at start: run() throws a one-line SpoolError (code redis) wrapping the RedisError")
    func redisDown() async throws {
        try await QueueFixture.with { fixture in
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: try QueueName("emails")) { _, _ in }
            try await fixture.server.stop()
            let error = await Self.startError(of: worker)
            let spoolError = try #require(error as? SpoolError, "\(String(describing: error))")
            #expect(spoolError.code == .redis)
            #expect(spoolError.underlying is RedisError, "\(String(reflecting: spoolError))")
            #expect(spoolError.message.contains(fixture.server.url) && spoolError.message.contains("emails"), "\(spoolError.message)")
            #expect(!spoolError.message.contains("\n"), "\(spoolError.message)")
        }
    }

    @Test("a wrong password at start: run() throws a SpoolError (code redis) without the password")
    func wrongPassword() async throws {
        try await withRedisServer(.init(password: "right-password")) { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: "redis://:wrong-canary@127.0.0.1:\(server.port)"))
            defer { client.shutdown() }
            var worker = SpoolWorker(client: client, logger: Logger(label: "spool.test"))
            worker.register(Greeting.self, queue: try QueueName("emails")) { _, _ in }
            let error = await Self.startError(of: worker)
            let spoolError = try #require(error as? SpoolError, "\(String(describing: error))")
            #expect(spoolError.code == .redis)
            #expect((spoolError.underlying as? RedisError)?.code == .authenticationFailed, "\(String(reflecting: spoolError))")
            #expect(!spoolError.message.contains("wrong-canary") && !spoolError.message.contains("\n"), "\(spoolError.message)")
        }
    }

    @Test("a subscription without a handler or fallback (a typo'd queue in register) makes run() throw before it touches Redis")
    func subscriptionWithoutHandler() async throws {
        try await QueueFixture.with { fixture in
            let emails = try QueueName("emails")
            let keys = QueueKeys(queue: emails)
            // a job waiting in the real queue, which must not be dead-lettered as no_handler
            try await fixture.producer.push(Greeting(name: "waiting"), to: emails)
            var worker = fixture.worker()
            worker.subscribe(queue: emails, options: .init(concurrency: 4, startFromBeginning: true))
            worker.register(Greeting.self, queue: try QueueName("emials")) { _, _ in }
            let error = await Self.startError(of: worker)
            let spoolError = try #require(error as? SpoolError, "\(String(describing: error))")
            #expect(spoolError.code == .invalidArgument)
            #expect(spoolError.message.contains("queue emails group default"), "\(spoolError.message)")
            #expect(!spoolError.message.contains("\n"), "\(spoolError.message)")
            // no group was created on either queue, and the job is untouched
            #expect(try await fixture.redis("XINFO", "GROUPS", keys.stream) == .array([]))
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: try QueueName("emials")).stream) == .integer(0))
            #expect(try await fixture.redis("EXISTS", keys.dead(.default)) == .integer(0))
            #expect(try await fixture.redis("XLEN", keys.stream) == .integer(1))
        }
    }

    @Test("a heartbeat TTL not longer than the heartbeat interval makes run() throw before it touches Redis", arguments: [1000, 1500])
    func heartbeatTTLNotLongerThanItsInterval(ttlMilliseconds: Int) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("beats")
            var worker = fixture.worker { configuration in
                configuration.heartbeatInterval = .milliseconds(1500)
                configuration.heartbeatTTL = .milliseconds(ttlMilliseconds)
            }
            worker.register(Greeting.self, queue: queue) { _, _ in }
            let error = await Self.startError(of: worker)
            let spoolError = try #require(error as? SpoolError, "\(String(describing: error))")
            #expect(spoolError.code == .invalidArgument)
            #expect(spoolError.message.contains("heartbeat TTL"), "\(spoolError.message)")
            #expect(!spoolError.message.contains("\n"), "\(spoolError.message)")
            // nothing was sent: no group, no heartbeat
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).stream) == .integer(0))
            #expect(try await fixture.redis("DBSIZE") == .integer(0))
        }
    }

    /// Each was accepted and then stalled or failed every job without a word: a visibility
    /// timeout under a beat ran live workers' jobs twice, a fetch block time of 0 blocked
    /// forever, intervals of 0 spun, a dedup window of 0 turned dedup off, a payload limit of 0
    /// dead-lettered every job, a concurrency of 0 (set after init) started nothing, a handler
    /// timeout of 0 failed every attempt. (A busy poll past 10 ms is refused as it only keeps
    /// a core busy.)
    @Test("a configuration a worker cannot run with makes run() throw, naming the field, before it touches Redis", arguments: [
        ("visibilityTimeout", "visibility"), ("fetchBlockTime", "block"), ("promoteInterval", "promote"),
        ("trimInterval", "trim"), ("metricsInterval", "metrics"), ("gracePeriod", "grace"), ("dedupWindow", "dedup"),
        ("maxStreamLength", "cap"), ("maxPayloadBytes", "payload"), ("concurrency", "concurrency"),
        ("handler timeout", "options timeout"), ("handler timeout", "register timeout"),
        // a colon let two (group, consumer) pairs share a heartbeat key; `~previous` names the
        // hand-over consumer; an empty name was sent as is
        ("consumerName \"a:b\" holds a colon", "name colon"), ("consumerName \"w~previous\" ends in ~previous", "name previous"),
        ("heartbeatTTL", "ttl huge"), ("heartbeatTTL", "ttl tiny"),
        ("consumerName \"\" is empty", "name empty"), ("consumerName \"w\\n\" holds control characters", "name control"),
        ("busyPoll", "busy poll long"), ("busyPoll", "busy poll negative"),
    ])
    func unusableConfiguration(field: String, setting: String) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unusable")
            var worker = fixture.worker { configuration in
                switch setting {
                case "visibility": configuration.visibilityTimeout = configuration.heartbeatInterval
                case "block": configuration.fetchBlockTime = .zero
                case "promote": configuration.promoteInterval = .zero
                case "trim": configuration.trimInterval = .milliseconds(-1)
                case "metrics": configuration.metricsInterval = .zero
                case "grace": configuration.gracePeriod = .seconds(-1)
                case "dedup": configuration.dedupWindow = .zero
                case "cap": configuration.maxStreamLength = 0
                case "payload": configuration.maxPayloadBytes = 0
                case "ttl huge": configuration.heartbeatTTL = .seconds(200 * 365 * 86_400)
                case "ttl tiny":
                    configuration.heartbeatInterval = .microseconds(1)
                    configuration.heartbeatTTL = .microseconds(500)
                case "name colon": configuration.consumerName = "a:b"
                case "name previous": configuration.consumerName = "w~previous"
                case "name empty": configuration.consumerName = ""
                case "name control": configuration.consumerName = "w\n"
                case "busy poll long": configuration.busyPoll = .milliseconds(11)
                case "busy poll negative": configuration.busyPoll = .microseconds(-1)
                default: break
                }
            }
            var options = SpoolWorker.SubscriptionOptions()
            if setting == "concurrency" { options.concurrency = 0 }
            if setting == "options timeout" { options.handlerTimeout = .zero }
            worker.subscribe(queue: queue, options: options)
            worker.register(Greeting.self, queue: queue, timeout: setting == "register timeout" ? .seconds(-1) : nil) { _, _ in }
            try await Self.expectRefusedBeforeRedis(worker, fixture, "\(setting)") { $0.contains(field) }
        }
    }

    /// A second run under the same consumer name handed the first's running jobs over to
    /// `twin~previous` and reclaimed them: they ran twice.
    @Test("a worker run twice at once, or a second worker of the same Configuration, is refused; the first runs on")
    func sameConsumerTwice() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("twice")
            let ran = Mutex<[String]>([])
            var worker = fixture.worker(name: "twin")
            worker.register(Greeting.self, queue: queue) { job, _ in ran.withLock { $0.append(job.name) } }
            var copy = fixture.worker(name: "twin")
            copy.register(Greeting.self, queue: queue) { job, _ in ran.withLock { $0.append("copy: \(job.name)") } }
            try await running(worker) {
                let heartbeat = QueueKeys(queue: queue).heartbeat(.default, consumer: "twin")
                try await waitUntil(within: .seconds(30), "the first run serves") {
                    try await fixture.redis("EXISTS", heartbeat) == .integer(1)
                }
                for second in [worker, copy] {
                    let error = await Self.startError(of: second)
                    let spoolError = try #require(error as? SpoolError, "\(String(describing: error))")
                    #expect(spoolError.code == .invalidArgument)
                    #expect(spoolError.message.contains("consumer twin already serves queue twice group default"), "\(spoolError.message)")
                    #expect(!spoolError.message.contains("\n"))
                }
                try await fixture.producer.push(Greeting(name: "after"), to: queue)
                try await waitUntil(within: .seconds(30), "the first run ran the job") { ran.withLock { $0 } == ["after"] }
            }
            // stopped, it gives the name back
            try await running(copy) {
                try await fixture.producer.push(Greeting(name: "later"), to: queue)
                try await waitUntil(within: .seconds(30), "the copy ran the job") { ran.withLock { $0 }.count == 2 }
            }
            #expect(ran.withLock { $0 } == ["after", "copy: later"])
        }
    }

    /// Replaced silently before: whichever registration came last ran, and the app never heard
    /// that its other handler did not.
    @Test("a job type (or the fallback) registered twice for one queue and group makes run() throw, naming it, before it touches Redis", arguments: [
        "typed twice", "raw over typed", "fallback twice",
    ])
    func registeredTwice(how: String) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("twice")
            var worker = fixture.worker()
            // the same type on another group is a handler of its own, not a second one
            worker.register(Greeting.self, queue: queue, group: try GroupName("other")) { _, _ in }
            switch how {
            case "typed twice":
                worker.register(Greeting.self, queue: queue) { _, _ in }
                worker.register(Greeting.self, queue: queue) { _, _ in }
            case "raw over typed":
                worker.register(Greeting.self, queue: queue) { _, _ in }
                worker.register(type: Greeting.jobName, queue: queue) { _, _ in }
            default:
                worker.registerFallback(queue: queue) { _, _ in }
                worker.registerFallback(queue: queue) { _, _ in }
            }
            let named = how == "fallback twice" ? "the fallback" : "job type \"\(Greeting.jobName)\""
            try await Self.expectRefusedBeforeRedis(worker, fixture, how) {
                $0.hasPrefix("\(named) has two handlers registered for queue twice group default")
            }
        }
    }

    /// run() returned as after a graceful shutdown, so an app awaiting it took the worker for
    /// stopped on purpose.
    @Test("a RedisClient shut down under a running worker makes run() throw (code shutdown) once the worker stopped",
          arguments: [false, true])
    func clientShutDownWhileRunning(dedicatedThread: Bool) async throws {
        try await QueueFixture.with { fixture in
            // on its own thread, the worker sends through a client that follows this one
            var fixture = fixture
            fixture.dedicatedThread = dedicatedThread
            let queue = try QueueName("gone")
            let client = RedisClient(configuration: try RedisConfiguration(url: fixture.url))
            defer { client.shutdown() }
            var worker = SpoolWorker(client: client, configuration: fixture.workerConfiguration(name: nil), logger: fixture.logger)
            let ran = Mutex(0)
            worker.register(Greeting.self, queue: queue) { _, _ in ran.withLock { $0 += 1 } }
            let finished = Flag()
            try await withThrowingTaskGroup(of: (any Error)?.self) { [worker] group in
                group.addTask {
                    defer { finished.set() }
                    return await Self.runError(of: worker)
                }
                // running: a job pushed now is handled
                try await waitUntil("the worker's group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).stream) == .integer(1)
                }
                try await fixture.producer.push(Greeting(name: "first"), to: queue)
                try await waitUntil("the job ran") { ran.withLock { $0 } == 1 }
                client.shutdown()
                // bounded: a worker that never heard of the shutdown would run on (the group's
                // end then cancels it, and the test fails rather than hangs)
                try await waitUntil("run() returned") { finished.isSet }
                let outcome = try await group.next() ?? nil
                let spoolError = try #require(outcome as? SpoolError, "run() returned \(String(describing: outcome))")
                #expect(spoolError.code == .shutdown, "\(String(reflecting: spoolError))")
                #expect(spoolError.message.contains("shut down while the worker ran on queue gone group default"), "\(spoolError.message)")
                #expect((spoolError.underlying as? RedisError)?.code == .shutdown, "\(String(reflecting: spoolError))")
            }
        }
    }
}

/// A flag one task sets and another reads.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
