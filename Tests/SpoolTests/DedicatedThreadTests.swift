import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `SpoolWorker.Configuration.dedicatedThread`: the worker's tasks on one thread of its own.
@Suite("Worker: on a thread of its own")
struct DedicatedThreadTests {
    @Test("push, process, retry, dead letter, dedup, fan-out and graceful shutdown on a worker's own thread")
    func coreSemantics() async throws {
        try await QueueFixture.with { fixture in
            var fixture = fixture
            fixture.dedicatedThread = true
            try await WorkerDeliveryTests.runsJobs(fixture)
            try await WorkerDeliveryTests.retriesThenDeadLetter(fixture)
            try await WorkerDeliveryTests.nonRetryable(fixture)
            try await WorkerSemanticsTests.dedupSkipsCompleted(fixture)
            try await WorkerSemanticsTests.fanOut(fixture)
            try await WorkerSemanticsTests.gracefulShutdown(fixture)
        }
    }

    @Test("every handler runs on one thread, and a busy queue at concurrency 32 runs each job once, at most 32 at once")
    func oneThread() async throws {
        try await QueueFixture.with { fixture in
            var fixture = fixture
            fixture.dedicatedThread = true
            let queue = try QueueName("own-thread")
            let jobs = 2000
            let recorder = Recorder()
            let threads = Mutex<Set<UInt>>([])
            let active = Atomic<Int>(0)
            let most = Atomic<Int>(0)
            var worker = fixture.worker()
            worker.subscribe(queue: queue, options: .init(concurrency: 32))
            worker.register(Greeting.self, queue: queue) { _, context in
                let now = active.wrappingAdd(1, ordering: .relaxed).newValue
                defer { active.wrappingSubtract(1, ordering: .relaxed) }
                most.max(now, ordering: .relaxed)
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                recorder.record(context)
                // a suspension: the handler resumes on the worker's thread too
                await Task.yield()
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
            }
            // queued before the worker starts, so the fetch loop keeps reads in flight
            var pushed: [PushResult] = []
            for batch in stride(from: 0, to: jobs, by: 100) {
                pushed += try await fixture.producer.push((batch..<batch + 100).map { Greeting(name: "\($0)") }, to: queue)
            }
            try await fixture.redis("XGROUP", "CREATE", QueueKeys(queue: queue).stream, "default", "0", "MKSTREAM")
            try await running(worker) {
                try await recorder.waitFor(jobs)
            }
            #expect(threads.withLock { $0.count } == 1, "handlers ran on \(threads.withLock { $0.count }) threads")
            #expect(threads.withLock { $0.contains(UInt(pthread_self())) } == false, "not on the test's thread")
            #expect(Set(recorder.executions.map(\.job)) == Set(pushed.map { "\($0.id)" }))
            #expect(recorder.count == jobs, "none ran twice")
            #expect(most.load(ordering: .relaxed) <= 32)
        }
    }
}
