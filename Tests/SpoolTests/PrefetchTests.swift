import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing
@testable import Spool

/// ``SpoolWorker/SubscriptionOptions/prefetch``: a worker reads ahead of its free slots, and
/// still runs at most `concurrency` handlers at once.
@Suite("Worker: prefetch", .timeLimit(.minutes(3)))
struct PrefetchTests {
    private static func entry(_ number: UInt64) -> (entry: StreamEntry, duplicate: Bool) {
        (StreamEntry(id: StreamID(milliseconds: number, sequence: 0), source: .main, fields: [], deliveries: 1), false)
    }

    @Test("admission: up to concurrency start, the rest wait in order; an ended handler takes the oldest waiting; waiting ones start before new ones")
    func admission() async {
        let state = SubscriptionState(concurrency: 2, prefetch: 3)
        let first = state.admit((1...4).map(Self.entry), takeWaiting: true, leaseUntil: .now)
        #expect(first.start.map { $0.entry.id.milliseconds } == [1, 2])
        #expect(first.waiting.map { $0.entry.id.milliseconds } == [3, 4])
        #expect(state.admittedCount == 2)
        // those that wait are marked as held, waiting for a slot (the two started are the caller's to mark)
        #expect(state.runningCount == 2 && state.handlerCount == 0)
        // a handler ended: it runs the oldest waiting job next
        #expect(state.handlerEnded(takingNext: true)?.entry.id.milliseconds == 3)
        // one ended without taking (its task was cancelled): the fetch loop is woken, as 4 waits
        // (its wait returns at once, with none of the pool's slots free)
        #expect(state.slots.tryAcquire(max: 5) == 5)
        #expect(state.handlerEnded(takingNext: false) == nil)
        #expect(await state.slots.acquire(max: 5, wakeable: true) == 0)
        state.slots.release(5)
        #expect(state.waitingJobCount == 1)
        // not told to take waiting jobs (the worker's task was cancelled): 4 still waits
        #expect(state.admit([], takeWaiting: false, leaseUntil: .now).start.isEmpty)
        // a slot of the two is free, and the job still waiting starts before the new one
        let second = state.admit([Self.entry(5)], takeWaiting: true, leaseUntil: .now)
        #expect(second.start.map { $0.entry.id.milliseconds } == [4])
        #expect(second.waiting.map { $0.entry.id.milliseconds } == [5])
        // two end with nothing else waiting but 5: the first takes it, the second frees its handler
        #expect(state.handlerEnded(takingNext: true)?.entry.id.milliseconds == 5)
        #expect(state.handlerEnded(takingNext: true) == nil)
        #expect(state.admittedCount == 1)
        #expect(state.admit([Self.entry(6)], takeWaiting: true, leaseUntil: .now).start.map { $0.entry.id.milliseconds } == [6])
        // stopping: nothing that waits starts, and what waits is handed over
        _ = state.admit([Self.entry(7), Self.entry(8)], takeWaiting: true, leaseUntil: .now)
        state.beginStop()
        #expect(state.handlerEnded(takingNext: true) == nil)
        #expect(state.admit([], takeWaiting: true, leaseUntil: .now).start.isEmpty)
        #expect(state.takeWaitingJobs().map { $0.entry.id.milliseconds } == [7, 8])
        #expect(state.takeWaitingJobs().isEmpty)
    }

    @Test("admission without a prefetch starts everything it is given, as before")
    func noPrefetch() {
        let state = SubscriptionState(concurrency: 2)
        #expect(state.admit((1...3).map(Self.entry), takeWaiting: true, leaseUntil: .now).start.count == 3)
        #expect(state.handlerEnded(takingNext: true) == nil)
        #expect(state.admittedCount == 0)
        #expect(state.takeWaitingJobs().isEmpty)
    }

    @Test("with a prefetch, every job runs once and no more than concurrency handlers run at once",
          arguments: [false, true])
    func boundedAndComplete(dedicatedThread: Bool) async throws {
        try await QueueFixture.with { fixture in
            var fixture = fixture
            fixture.dedicatedThread = dedicatedThread
            let queue = try QueueName("prefetch-\(dedicatedThread)")
            let keys = QueueKeys(queue: queue)
            let handlers = HandlerCount()
            var worker = fixture.worker()
            worker.subscribe(queue: queue, options: .init(concurrency: 3, prefetch: 9))
            worker.register(Greeting.self, queue: queue) { job, _ in
                handlers.started(job.name)
                defer { handlers.ended() }
                try await Task.sleep(for: .milliseconds(2))
            }
            _ = try await fixture.producer.push((0..<300).map { Greeting(name: "g\($0)") }, to: queue)
            try await running(worker) {
                try await waitUntil("every job ran") { handlers.names.count >= 300 }
                try await waitUntil("every job is acknowledged") {
                    try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0)
                }
            }
            #expect(handlers.most <= 3)
            #expect(handlers.most == 3, "the three slots were used")
            #expect(Set(handlers.names).count == 300 && handlers.names.count == 300)
            #expect(try await fixture.redis("ZCARD", keys.done(.default)) == .integer(300))
        }
    }

    /// A worker of concurrency 1 and prefetch 4 whose handler runs until it is cancelled, and
    /// five jobs pushed for it; `holdsFive` waits until one runs and the worker holds the rest.
    private static func holdingWorker(
        _ fixture: QueueFixture, _ queue: QueueName
    ) async throws -> (worker: SpoolWorker, handlers: HandlerCount, holdsFive: @Sendable () async throws -> Void) {
        let handlers = HandlerCount()
        var worker = fixture.worker { $0.gracePeriod = .milliseconds(300) }
        worker.subscribe(queue: queue, options: .init(concurrency: 1, prefetch: 4))
        worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { job, _ in
            handlers.started(job.name)
            defer { handlers.ended() }
            try await Task.sleep(for: .seconds(60))
        }
        _ = try await fixture.producer.push((0..<5).map { Greeting(name: "g\($0)") }, to: queue)
        let stream = QueueKeys(queue: queue).stream
        return (worker, handlers, {
            try await waitUntil("one handler runs") { handlers.names.count == 1 }
            try await waitUntil("the worker holds all five: one running, four read ahead") {
                try await fixture.redis("XPENDING", stream, "default").array?.first == .integer(5)
            }
        })
    }

    /// Only the first of ``holdingWorker(_:_:)``'s five jobs started, and all five are handed
    /// back: none is pending any more.
    private static func expectAllHandedBack(
        _ fixture: QueueFixture, _ keys: QueueKeys, _ handlers: HandlerCount, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(handlers.names == ["g0"], "no job read ahead started", sourceLocation: sourceLocation)
        #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0), sourceLocation: sourceLocation)
        #expect(try await handedBack(fixture, keys) == 5, sourceLocation: sourceLocation)
    }

    @Test("jobs read ahead when the worker stops are handed back unstarted, as the same attempt")
    func handedBackAtShutdown() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("prefetch-stop")
            let keys = QueueKeys(queue: queue)
            // the handler runs until the grace period is over and the worker cancels it
            let (worker, handlers, holdsFive) = try await Self.holdingWorker(fixture, queue)
            try await running(worker) {
                try await holdsFive()
            }
            try await Self.expectAllHandedBack(fixture, keys, handlers)
            // the next worker runs all five, each as its first attempt
            let rerun = Recorder()
            var next = fixture.worker()
            next.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in rerun.record(context) }
            try await running(next) {
                try await rerun.waitFor(5)
            }
            #expect(rerun.executions.map(\.attempt) == Array(repeating: 1, count: 5))
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        }
    }

    @Test("cancelling the worker's task hands the jobs read ahead back unstarted: none of them runs")
    func cancelledHandsBack() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("prefetch-cancel")
            let keys = QueueKeys(queue: queue)
            let (worker, handlers, holdsFive) = try await Self.holdingWorker(fixture, queue)
            let task = Task { try? await worker.run() }
            try await holdsFive()
            task.cancel()
            await task.value
            try await Self.expectAllHandedBack(fixture, keys, handlers)
        }
    }

    /// The block time is long: jobs that waited for a blocking read to end, rather than start
    /// when the timed-out handler made room, would miss the bound (half the block time, so that
    /// a loaded machine has room; the shutdown then waits for the last blocking read).
    @Test("a handler that times out while jobs wait does not strand them: they run without waiting for a blocking read")
    func timeoutDoesNotStrand() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("prefetch-timeout")
            let ran = Recorder()
            var worker = fixture.worker { $0.fetchBlockTime = .seconds(20) }
            worker.subscribe(queue: queue, options: .init(concurrency: 1, prefetch: 4))
            worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none, timeout: .milliseconds(200)) { job, context in
                // the first sleeps past its timeout and is cancelled
                if job.name == "slow" { try await Task.sleep(for: .seconds(60)) }
                ran.record(context)
            }
            _ = try await fixture.producer.push(Greeting(name: "slow"), to: queue)
            _ = try await fixture.producer.push((0..<4).map { Greeting(name: "g\($0)") }, to: queue)
            try await running(worker) {
                try await ran.waitFor(4, within: .seconds(10))
            }
            #expect(ran.executions.count == 4)
            #expect(try await fixture.redis("XLEN", QueueKeys(queue: queue).dead(.default)) == .integer(1))
        }
    }

    @Test("a prefetch outside 0...1,000 makes run() throw, naming it", arguments: [-1, 1_001])
    func refused(prefetch: Int) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("prefetch-bad")
            var worker = fixture.worker()
            worker.subscribe(queue: queue, options: .init(prefetch: prefetch))
            worker.register(Greeting.self, queue: queue) { _, _ in }
            await #expect {
                try await worker.run()
            } throws: { error in
                let error = error as! SpoolError
                return error.code == .invalidArgument && error.message.contains("prefetch \(prefetch)")
            }
        }
    }
}
