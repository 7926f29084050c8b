import Spool
import SpoolRedis
import Synchronization
import Testing

/// What a job task does around its handler: ``SpoolWorker/Handler`` is `nonisolated(nonsending)`,
/// and the job tasks wait for their next job in a handoff the worker closes when it stops.
@Suite("Worker: handlers' isolation and idle job tasks", .timeLimit(.minutes(3)))
struct HandlerIsolationTests {
    fileprivate final class Count: Sendable {
        let value = Atomic<Int>(0)
    }
    /// Jobs the plain function ran, by queue (the test's two cases run at once).
    fileprivate static let ranPlain = Mutex<[String: Int]>([:])

    @Test("a @MainActor closure runs on the main actor, and a plain async function passed by name runs too", arguments: [false, true])
    func isolatedAndPlainHandlers(dedicatedThread: Bool) async throws {
        try await QueueFixture.with { fixture in
            var fixture = fixture
            fixture.dedicatedThread = dedicatedThread
            let queue = try QueueName("isolation-\(dedicatedThread)")
            let onMain = Count()
            var worker = fixture.worker()
            worker.register(type: "main", queue: queue) { @MainActor _, _ in
                // traps off the main actor
                MainActor.assertIsolated()
                onMain.value.add(1, ordering: .relaxed)
            }
            worker.register(type: "plain", queue: queue, handler: plainHandler)
            try await running(worker) {
                for type in ["main", "plain", "main", "plain"] {
                    _ = try await fixture.producer.push(JobEnvelope(type: type, payload: Array("{}".utf8)), to: queue)
                }
                try await waitUntil("both handlers ran twice") {
                    onMain.value.load(ordering: .relaxed) == 2 && Self.ranPlain.withLock { $0["\(queue)"] } == 2
                }
            }
            #expect(onMain.value.load(ordering: .relaxed) == 2)
        }
    }

    /// Job tasks that finished their jobs wait for the next in the worker's handoff, which has
    /// no cancellation handler: the cancelled worker's closing it is what ends their waits.
    @Test("cancelling a worker whose job tasks all wait for their next job ends it", arguments: [false, true])
    func cancelWithIdleJobTasks(dedicatedThread: Bool) async throws {
        try await QueueFixture.with { fixture in
            var fixture = fixture
            fixture.dedicatedThread = dedicatedThread
            let queue = try QueueName("idle-tasks")
            let done = Recorder()
            var worker = fixture.worker()
            worker.subscribe(queue: queue, options: .init(concurrency: 8))
            worker.register(Greeting.self, queue: queue) { _, context in
                // held until several run at once, so that several job tasks exist
                try await Task.sleep(for: .milliseconds(20))
                done.record(context)
            }
            let ended = Count()
            let subscribed = worker
            let task = Task {
                try? await subscribed.run()
                ended.value.store(1, ordering: .relaxed)
            }
            try await waitUntil("the group exists") {
                try await fixture.redis("EXISTS", QueueKeys(queue: queue).retry(.default)) == .integer(1)
            }
            _ = try await fixture.producer.push((0..<24).map { Greeting(name: "g\($0)") }, to: queue)
            try await done.waitFor(24)
            task.cancel()
            try await waitUntil(within: .seconds(30), "the cancelled worker returned") { ended.value.load(ordering: .relaxed) == 1 }
        }
    }
}

/// A plain `async` function, passed by name as a handler. (A static method here crashed the
/// 6.3.1 compiler's type checker.)
private func plainHandler(_ envelope: JobEnvelope, _ context: JobContext) async throws {
    HandlerIsolationTests.ranPlain.withLock { $0["\(context.queue)", default: 0] += 1 }
}
