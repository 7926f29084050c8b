import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Worker: dedup, fan-out, sharing, delays, shutdown, trimming")
struct WorkerSemanticsTests {
    @Test("a redelivered job that already completed is skipped by the dedup set")
    func dedupSkipsCompleted() async throws {
        try await QueueFixture.with { try await Self.dedupSkipsCompleted($0) }
    }

    /// The body of ``dedupSkipsCompleted()``, also run on a Redis Cluster by `ClusterSemanticsTests`.
    static func dedupSkipsCompleted(_ fixture: QueueFixture) async throws {
        let queue = try QueueName("dedup")
        let keys = QueueKeys(queue: queue)
        let recorder = Recorder()
        var worker = fixture.worker()
        worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
        let envelope = try JobEnvelope.make(Greeting(name: "once"))
        try await running(worker) {
            try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
            try await fixture.producer.push(envelope, to: queue)
            try await recorder.waitFor(1)
            try await waitUntil("the job is marked done") {
                try await !fixture.redis("ZSCORE", keys.done(.default), "\(envelope.id)").isNull
            }
            // the same job delivered again (e.g. a producer retry after a timeout)
            try await fixture.producer.push(envelope, to: queue)
            try await waitUntil("the copy is acknowledged") {
                let info = try await fixture.redis("XINFO", "GROUPS", keys.stream)
                let group = infoMap(info.array?.first ?? .null)
                return group["entries-read"] == .integer(2) && group["pending"] == .integer(0)
            }
            // and again from a producer that writes the id in uppercase, which the wire format
            // allows: the done set holds the lowercase spelling
            let upper = envelope.encodedFields.map { String(decoding: $0, as: UTF8.self) }.map { $0 == "\(envelope.id)" ? $0.uppercased() : $0 }
            #expect(upper.contains("\(envelope.id)".uppercased()))
            _ = try await fixture.client.send(RedisCommand("XADD", [keys.stream, "*"] + upper))
            try await waitUntil("the uppercase copy is acknowledged") {
                let info = try await fixture.redis("XINFO", "GROUPS", keys.stream)
                let group = infoMap(info.array?.first ?? .null)
                return group["entries-read"] == .integer(3) && group["pending"] == .integer(0)
            }
        }
        #expect(recorder.count == 1)
    }

    @Test("fan-out: two groups each receive every job")
    func fanOut() async throws {
        try await QueueFixture.with { try await Self.fanOut($0) }
    }

    /// The body of ``fanOut()``, also run on a Redis Cluster by `ClusterSemanticsTests`.
    static func fanOut(_ fixture: QueueFixture) async throws {
        let queue = try QueueName("order.placed")
        let email = Recorder()
        let analytics = Recorder()
        var worker = fixture.worker()
        worker.register(Greeting.self, queue: queue, group: try GroupName("email")) { _, context in email.record(context) }
        worker.register(Greeting.self, queue: queue, group: try GroupName("analytics")) { _, context in analytics.record(context) }
        try await running(worker) {
            try await waitUntil("both groups exist") {
                (try await fixture.redis("XINFO", "GROUPS", QueueKeys(queue: queue).stream).array?.count ?? 0) == 2
            }
            let pushed = try await fixture.producer.push((0..<50).map { Greeting(name: "\($0)") }, to: queue)
            try await email.waitFor(50)
            try await analytics.waitFor(50)
            let ids = Set(pushed.map { "\($0.id)" })
            #expect(Set(email.executions.map(\.job)) == ids)
            #expect(Set(analytics.executions.map(\.job)) == ids)
        }
        #expect(email.count == 50 && analytics.count == 50)
    }

    @Test("two workers in one group share the jobs, none run by both")
    func sharing() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("shared")
            let recorder = Recorder()
            var first = fixture.worker(name: "worker-a")
            var second = fixture.worker(name: "worker-b")
            for index in 0..<2 {
                let handler: @Sendable (Greeting, JobContext) async throws -> Void = { _, context in
                    recorder.record(context)
                    try await Task.sleep(for: .milliseconds(2))
                }
                if index == 0 {
                    first.register(Greeting.self, queue: queue, handler: handler)
                } else {
                    second.register(Greeting.self, queue: queue, handler: handler)
                }
            }
            try await running(first, second) {
                try await waitUntil("the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                try await fixture.producer.push((0..<400).map { Greeting(name: "\($0)") }, to: queue)
                try await recorder.waitFor(400)
            }
            let runs = recorder.executions
            #expect(runs.count == 400)
            #expect(Set(runs.map(\.job)).count == 400, "no job ran twice")
            #expect(Set(runs.map(\.worker)) == ["worker-a", "worker-b"], "both workers took part")
        }
    }

    @Test("a busy queue never runs more handlers at once than the concurrency, and uses all of it")
    func concurrencyBound() async throws {
        // queued before the worker starts: every read finds a full batch, so reads go ahead of
        // the handlers (the loop's busy mode) from the first one on
        let most = try await mostAtOnce(queue: "bounded", concurrency: 4, jobs: 300) {
            try await Task.sleep(for: .milliseconds(3))
        }
        #expect(most == 4, "at most, and at some point exactly, 4 at once")
    }

    @Test("a busy queue of short jobs at concurrency 32 never runs more than 32 at once, and each job once")
    func concurrencyBoundWithPipelinedReads() async throws {
        // the load under which the fetch loop keeps two reads in flight (their sizes are
        // unit-tested in ReadAheadSizesTests): short jobs free their slots at once
        let most = try await mostAtOnce(queue: "bounded-pipelined", concurrency: 32, jobs: 2000) {
            await Task.yield()
        }
        #expect(most <= 32)
    }

    /// Queues `jobs` jobs, then runs them on one worker with `concurrency` slots, each handler
    /// doing `work`; checks that every job ran exactly once and returns the most handlers that
    /// ran at once.
    private func mostAtOnce(
        queue name: String, concurrency: Int, jobs: Int, work: @escaping @Sendable () async throws -> Void
    ) async throws -> Int {
        var result = 0
        try await QueueFixture.with { fixture in
            result = try await Self.mostAtOnce(fixture, queue: name, concurrency: concurrency, jobs: jobs, work: work)
        }
        return result
    }

    /// The body of ``mostAtOnce(queue:concurrency:jobs:work:)`` on `fixture`, also run on a
    /// worker with a thread of its own by `DedicatedThreadTests`.
    static func mostAtOnce(
        _ fixture: QueueFixture, queue name: String, concurrency: Int, jobs: Int, work: @escaping @Sendable () async throws -> Void
    ) async throws -> Int {
        let queue = try QueueName(name)
        let recorder = Recorder()
        let active = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        var worker = fixture.worker()
        worker.subscribe(queue: queue, options: .init(concurrency: concurrency))
        worker.register(Greeting.self, queue: queue) { _, context in
            let now = active.wrappingAdd(1, ordering: .relaxed).newValue
            defer { active.wrappingSubtract(1, ordering: .relaxed) }
            most.max(now, ordering: .relaxed)
            recorder.record(context)
            try await work()
        }
        var pushed: [PushResult] = []
        for batch in stride(from: 0, to: jobs, by: 100) {
            pushed += try await fixture.producer.push((batch..<min(jobs, batch + 100)).map { Greeting(name: "\($0)") }, to: queue)
        }
        try await fixture.redis("XGROUP", "CREATE", QueueKeys(queue: queue).stream, "default", "0", "MKSTREAM")
        try await running(worker) {
            try await recorder.waitFor(jobs)
        }
        #expect(Set(recorder.executions.map(\.job)) == Set(pushed.map { "\($0.id)" }))
        #expect(recorder.count == jobs, "none ran twice")
        return most.load(ordering: .relaxed)
    }

    @Test("a delayed job does not run before its time, and runs after it")
    func delayedJob() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("later")
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil("the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                let pushedAt = ContinuousClock.now
                let job = try await fixture.producer.push(Greeting(name: "x"), to: queue, options: PushOptions(delay: .milliseconds(1500)))
                let delayed = try await fixture.redis("ZCARD", QueueKeys(queue: queue).delayed)
                // in the delayed set until it is due: read before then, it must be there (a test
                // held up past its time by a loaded machine cannot tell, and skips this)
                if ContinuousClock.now - pushedAt < .milliseconds(1500) {
                    #expect(delayed == .integer(1))
                }
                try await recorder.waitFor(1)
                let ran = try #require(recorder.executions.first)
                #expect(ran.job == "\(job.id)")
                #expect(ran.at - pushedAt >= .milliseconds(1500), "ran \(ran.at - pushedAt) after the push")
                #expect(try await fixture.redis("ZCARD", QueueKeys(queue: queue).delayed) == .integer(0))
            }
        }
    }

    /// One promote call per pass moved at most 100 members: 100k jobs due at once took four
    /// minutes at the default 250 ms interval.
    @Test("a pass promotes more than 100 due jobs: 1,000 in the first pass")
    func manyDueJobsInOnePass() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("later.many")
            let keys = QueueKeys(queue: queue)
            try await fixture.producer.push((0..<1_000).map { Greeting(name: "\($0)") }, to: queue, options: PushOptions(delay: .milliseconds(1)))
            #expect(try await fixture.redis("ZCARD", keys.delayed) == .integer(1_000))
            let recorder = Recorder()
            // the next pass an hour away: the first, at the start, must move them all
            var worker = fixture.worker { $0.promoteInterval = .seconds(3600) }
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await recorder.waitFor(1_000, within: .seconds(30))
            }
            #expect(try await fixture.redis("ZCARD", keys.delayed) == .integer(0))
        }
    }

    @Test("graceful shutdown lets running handlers finish and acknowledges nothing unfinished")
    func gracefulShutdown() async throws {
        try await QueueFixture.with { try await Self.gracefulShutdown($0) }
    }

    /// The body of ``gracefulShutdown()``, also run on a worker with a thread of its own by
    /// `DedicatedThreadTests`.
    static func gracefulShutdown(_ fixture: QueueFixture) async throws {
        let queue = try QueueName("shutdown")
        let keys = QueueKeys(queue: queue)
        let started = Recorder()
        let finished = Recorder()
        // 10 s: the quick job's 100 ms must end within it even when the loaded machine holds
        // the test up; the slow one outlasts it (cancelled at its end, it returns 300 ms later)
        var worker = fixture.worker { $0.gracePeriod = .seconds(10) }
        // no retries: the cut-off job must not lose its one attempt
        worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { job, context in
            started.record(context)
            if job.name == "slow" {
                // ignores cancellation and returns normally well after the grace period:
                // still unfinished when the worker gave up on it, so it must stay pending
                try? await Task.sleep(for: .seconds(30))
                await Task.detached { try? await Task.sleep(for: .milliseconds(300)) }.value
                return
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
            finished.record(context)
        }
        try await running(worker) {
            try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
            try await fixture.producer.push([Greeting(name: "slow"), Greeting(name: "quick")], to: queue)
            try await started.waitFor(2)
        }
        // the quick job finished within the grace period and was acknowledged; the slow one
        // was cancelled and handed back to the group, due now, as the same attempt
        #expect(finished.count == 1)
        let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "10").array ?? []
        #expect(pending.isEmpty)
        #expect(try await fixture.redis("ZCARD", keys.done(.default)) == .integer(1))
        #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        // in the retry schedule, or already in the retry stream if the worker's promoter ran
        // before it stopped
        #expect(try await handedBack(fixture, keys) == 1)

        // the next worker runs it as attempt 1 of 1 again, rather than dead-lettering it
        let rerun = Recorder()
        var next = fixture.worker()
        next.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in rerun.record(context) }
        try await running(next) {
            try await rerun.waitFor(1)
        }
        #expect(rerun.executions.map(\.attempt) == [1])
        #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        #expect(try await fixture.redis("ZCARD", keys.done(.default)) == .integer(2))
    }

    @Test("a cancelled worker returns, the job it cut off left pending, when Redis refuses to take the job back")
    func cancelledWorkerReturnsWhenHandBackIsRefused() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("refused")
            let keys = QueueKeys(queue: queue)
            let started = Recorder()
            var worker = fixture.worker()
            worker.subscribe(queue: queue, options: .init(concurrency: 1))
            worker.register(Greeting.self, queue: queue) { _, context in
                started.record(context)
                try await Task.sleep(for: .seconds(60))
            }
            let returned = Mutex(false)
            let run = Task {
                try await worker.run()
                returned.withLock { $0 = true }
            }
            try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
            try await fixture.producer.push(Greeting(name: "cut off"), to: queue)
            try await started.waitFor(1)
            // the retry schedule is a key of another type: Redis refuses the hand-back
            try await fixture.redis("SET", keys.scheduled(.default), "not a schedule")
            run.cancel()
            // before, the hand-back was sent again and again, holding the only slot, so the
            // fetch loop waited for it, and run() never returned
            try await waitUntil("the cancelled worker returned") { returned.withLock { $0 } }
            guard returned.withLock({ $0 }) else { return }
            try await run.value
            // left pending, for another worker to reclaim
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(1))
            #expect(started.count == 1)
        }
    }

    @Test("trimming removes only entries every group is done with")
    func safeTrim() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("trim")
            let keys = QueueKeys(queue: queue)
            // a second group that reads nothing: everything after its position must stay
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "slow", "$", "MKSTREAM")
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                try await fixture.producer.push((0..<300).map { Greeting(name: "\($0)") }, to: queue)
                try await recorder.waitFor(300)
                // the slow group still needs all 300: after two more trim passes, nothing is gone
                let before = try await commandCalls(fixture, "xtrim")
                try await waitUntil("two more trim passes ran") { try await commandCalls(fixture, "xtrim") >= before + 2 }
                #expect(try await fixture.redis("XLEN", keys.stream) == .integer(300))
                // once the slow group has read and acknowledged everything, the stream can shrink
                let read = try await fixture.redis("XREADGROUP", "GROUP", "slow", "c", "COUNT", "1000", "STREAMS", keys.stream, ">")
                let ids = read.array?[0].array?[1].array?.compactMap { $0.array?[0].string } ?? []
                #expect(ids.count == 300)
                _ = try await fixture.client.send(RedisCommand("XACK", [keys.stream, "slow"] + ids))
                try await waitUntil("the stream is trimmed") {
                    (try await fixture.redis("XLEN", keys.stream).int ?? 300) < 300
                }
            }
        }
    }

    @Test("a group created while a trim is under way keeps every entry it would read", .timeLimit(.minutes(3)))
    func trimRacingGroupCreation() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("trim.race")
            let keys = QueueKeys(queue: queue)
            // 300 jobs the default group has read and acknowledged: the trim may drop them all
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            try await fixture.producer.push((0..<300).map { Greeting(name: "\($0)") }, to: queue)
            let read = try await fixture.redis("XREADGROUP", "GROUP", "default", "c", "COUNT", "1000", "STREAMS", keys.stream, ">")
            let ids = read.array?[0].array?[1].array?.compactMap { $0.array?[0].string } ?? []
            try #require(ids.count == 300)
            _ = try await fixture.client.send(RedisCommand("XACK", [keys.stream, "default"] + ids))

            // The worker reaches Redis through a link that adds 150 ms each way: if its trim read
            // the groups and trimmed in separate commands, 600 ms would pass between.
            let proxy = try DelayProxy(targetHost: fixture.server.host, targetPort: fixture.server.port, delay: .milliseconds(150) ... .milliseconds(150))
            defer { proxy.stop() }
            let slow = RedisClient(configuration: try RedisConfiguration(url: proxy.url))
            defer { slow.shutdown() }
            var configuration = fixture.workerConfiguration()
            configuration.heartbeatInterval = .seconds(5)
            configuration.heartbeatTTL = .seconds(30)
            configuration.trimInterval = .seconds(1)
            configuration.metricsInterval = nil
            var worker = SpoolWorker(client: slow, configuration: configuration, logger: fixture.logger)
            worker.register(Greeting.self, queue: queue) { _, _ in }
            var held = 0
            try await running(worker) {
                // As soon as a trim has read the groups, a new group starts at the beginning; it
                // must get every entry the stream held when it was created (a trim that ran
                // before may have dropped some, one after it must not).
                let before = try await commandCalls(fixture, "xinfo|groups")
                try await waitUntil("a trim read the groups") { try await commandCalls(fixture, "xinfo|groups") > before }
                let created = try await fixture.client.pipeline([
                    RedisCommand("MULTI"), RedisCommand("XGROUP", "CREATE", keys.stream, "late", "0"),
                    RedisCommand("XLEN", keys.stream), RedisCommand("EXEC"),
                ])
                held = try #require(created.last?.array?.last?.int)
                let trims = try await commandCalls(fixture, "xtrim")
                try await waitUntil("two more trims ran") { try await commandCalls(fixture, "xtrim") >= trims + 2 }
            }
            let late = try await fixture.redis("XREADGROUP", "GROUP", "late", "c", "COUNT", "1000", "STREAMS", keys.stream, ">")
            #expect((late.array?[0].array?[1].array?.count ?? 0) == held, "the late group reads every entry it was created with")
        }
    }

    @Test("the hard cap drops the oldest entries even when a group still needs them, and counts them")
    func hardCap() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("capped")
            let keys = QueueKeys(queue: queue)
            // a group that reads nothing: only the cap can drop entries
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "slow", "$", "MKSTREAM")
            var worker = fixture.worker { $0.maxStreamLength = 100 }
            worker.register(Greeting.self, queue: queue) { _, _ in }
            try await running(worker) {
                try await fixture.producer.push((0..<500).map { Greeting(name: "\($0)") }, to: queue)
                try await waitUntil("the stream is down to about its cap") {
                    (try await fixture.redis("XLEN", keys.stream).int ?? 500) <= 200
                }
            }
            let length = try #require(try await fixture.redis("XLEN", keys.stream).int)
            #expect(length >= 100, "the cap keeps at least its length")
            let status = try await SpoolInspector(client: fixture.client).status(of: queue)
            #expect(status.droppedByCap == 500 - length)
        }
    }

    /// The counter's `HINCRBY` failed after the cap had dropped the entries: the script
    /// errored, so the worker neither counted nor logged the lost jobs, on every trim.
    @Test("the hard cap's drops are reported when the counter cannot be written (its key holds another type)")
    func hardCapWithABrokenCounter() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("capped.broken")
            let keys = QueueKeys(queue: queue)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "slow", "$", "MKSTREAM")
            try await fixture.redis("SET", keys.meta, "not a hash")
            let log = CapturedLog()
            var configuration = fixture.workerConfiguration()
            configuration.maxStreamLength = 100
            var worker = SpoolWorker(client: fixture.client, configuration: configuration, logger: log.logger)
            worker.register(Greeting.self, queue: queue) { _, _ in }
            try await running(worker) {
                try await fixture.producer.push((0..<500).map { Greeting(name: "\($0)") }, to: queue)
                try await waitUntil("the drops are logged") { log.contains("those jobs are lost") }
            }
            let lines = log.metadata.filter { $0["spool.dropped"] != nil }
            #expect(lines.first?["spool.counter_error"]?.contains("WRONGTYPE") == true, "\(lines)")
            let length = try #require(try await fixture.redis("XLEN", keys.stream).int)
            #expect(lines.compactMap { Int($0["spool.dropped"] ?? "") }.reduce(0, +) == 500 - length, "\(lines)")
        }
    }

    @Test("a worker whose Redis client is shut down stops fetching and returns", .timeLimit(.minutes(3)))
    func clientShutdownEndsWorker() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("orphaned")
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, _ in }
            let subscribed = worker
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try? await subscribed.run() }
                try await waitUntil("the group exists") {
                    try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
                }
                fixture.client.shutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("cancelling a worker's task ends it, handing the unfinished job back to its group as the same attempt", .timeLimit(.minutes(3)))
    func cancellationEndsWorker() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("cancelled"))
            let worker = try await WorkerTask.start(fixture, queue: keys.queue) {
                try await Task.sleep(for: .seconds(300))
            }
            worker.task.cancel()
            try await waitUntil(within: .seconds(30), "the cancelled worker returned") { worker.hasEnded }
            let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "10").array ?? []
            #expect(pending.isEmpty, "the job it was running is no longer this worker's")
            #expect(try await handedBack(fixture, keys) == 1, "handed back to the group")
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        }
    }

    @Test("a cancelled worker stops its upkeep at once, even while a handler ignores the cancellation", .timeLimit(.minutes(3)))
    func cancelledWorkerStopsUpkeep() async throws {
        try await QueueFixture.with { fixture in
            let keys = QueueKeys(queue: try QueueName("stubborn"))
            let release = AsyncGate()
            defer { release.open() }   // never leave the handler (and the worker) hanging
            let worker = try await WorkerTask.start(fixture, queue: keys.queue) {
                // a handler that does not stop when cancelled
                await Task.detached { await release.wait() }.value
            }
            let heartbeat = keys.heartbeat(.default, consumer: worker.name)
            try await waitUntil("the worker beats") { try await fixture.redis("PTTL", heartbeat).int ?? -2 > 0 }
            worker.task.cancel()
            // The heartbeat is refreshed every 200 ms for 3 s; a worker that went on with its
            // upkeep would keep the key alive. Stopped, the key expires.
            try await waitUntil(within: .seconds(30), "the heartbeat lapsed") {
                try await fixture.redis("EXISTS", heartbeat) == .integer(0)
            }
            #expect(!worker.hasEnded, "run() waits for its running handler")
            release.open()
            try await waitUntil(within: .seconds(30), "the cancelled worker returned") { worker.hasEnded }
        }
    }
}

/// A worker running in a task of its own (so a test can cancel it), with one job pushed and
/// its handler started.
private struct WorkerTask: Sendable {
    private final class EndFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    let name: String
    let task: Task<Void, Never>
    private let ended: EndFlag

    /// Whether `run()` returned.
    var hasEnded: Bool { ended.value.load(ordering: .relaxed) }

    /// Starts a worker on `queue` whose handler runs `body`, pushes one job, and returns once
    /// the handler started.
    static func start(
        _ fixture: QueueFixture, queue: QueueName, body: @escaping @Sendable () async throws -> Void
    ) async throws -> WorkerTask {
        let started = Recorder()
        var worker = fixture.worker()
        worker.register(Greeting.self, queue: queue) { _, context in
            started.record(context)
            try await body()
        }
        let subscribed = worker
        let ended = EndFlag()
        let task = Task {
            try? await subscribed.run()
            ended.value.store(true, ordering: .relaxed)
        }
        let keys = QueueKeys(queue: queue)
        try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
        try await fixture.producer.push(Greeting(name: "x"), to: queue)
        try await started.waitFor(1)
        return WorkerTask(name: subscribed.name, task: task, ended: ended)
    }
}

/// Jobs handed back to the default group and not yet run: in its retry schedule or its retry
/// stream (where the promoter moves them when due).
func handedBack(_ fixture: QueueFixture, _ keys: QueueKeys) async throws -> Int {
    let scheduled = try await fixture.redis("ZCARD", keys.scheduled(.default)).int ?? -1
    let due = try await fixture.redis("XLEN", keys.retry(.default)).int ?? -1
    return scheduled + due
}

/// How often the server has run `command` (INFO commandstats).
func commandCalls(_ fixture: QueueFixture, _ command: String) async throws -> Int {
    let info = try await fixture.redis("INFO", "commandstats").string ?? ""
    guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
        let calls = line.split(separator: "=").dropFirst().first?.split(separator: ",").first
    else { return 0 }
    return Int(calls) ?? 0
}

@Suite("Worker: group creation")
struct GroupCreationTests {
    @Test("a new group takes every job still in the stream by default, or new jobs only with startFromBeginning: false")
    func startPosition() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("history")
            let keys = QueueKeys(queue: queue)
            let old = try await fixture.producer.push((0..<3).map { Greeting(name: "old\($0)") }, to: queue)
            let fresh = Recorder()
            let replay = Recorder()
            var worker = fixture.worker()
            worker.subscribe(queue: queue, group: try GroupName("fresh"), options: .init(startFromBeginning: false))
            worker.register(Greeting.self, queue: queue, group: try GroupName("fresh")) { _, context in fresh.record(context) }
            worker.register(Greeting.self, queue: queue, group: try GroupName("replay")) { _, context in replay.record(context) }
            try await running(worker) {
                try await waitUntil("both groups exist") {
                    (try await fixture.redis("XINFO", "GROUPS", keys.stream).array?.count ?? 0) == 2
                }
                let new = try await fixture.producer.push(Greeting(name: "new"), to: queue)
                try await replay.waitFor(4)
                try await fresh.waitFor(1)
                #expect(Set(replay.executions.map(\.job)) == Set((old + [new]).map { "\($0.id)" }))
                #expect(fresh.executions.map(\.job) == ["\(new.id)"])
            }
        }
    }
}
