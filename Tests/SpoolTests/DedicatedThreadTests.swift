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
            let threads = Mutex<Set<UInt>>([])
            // queued before the worker starts, so the fetch loop keeps reads in flight
            let most = try await WorkerSemanticsTests.mostAtOnce(fixture, queue: "own-thread", concurrency: 32, jobs: 2000) {
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                // a suspension: the handler resumes on the worker's thread too
                await Task.yield()
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
            }
            #expect(threads.withLock { $0.count } == 1, "handlers ran on \(threads.withLock { $0.count }) threads")
            #expect(threads.withLock { $0.contains(UInt(pthread_self())) } == false, "not on the test's thread")
            #expect(most <= 32)
        }
    }
}
