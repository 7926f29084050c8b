import Foundation
import SpoolTesting
import Testing
@testable import SpoolRedis

@Suite("A cancel that comes after its command's reply")
struct LateCancelTests {
    /// The window is the one between the connection's thread resuming the caller and the
    /// caller's `withTaskCancellationHandler` returning: the task runs on an executor that
    /// holds its jobs, so the cancel lands in that window every time.
    @Test("cancelled once the reply is in, sendInterruptible returns it, and the next lease's command is not cancelled",
          .timeLimit(.minutes(3)))
    func lateCancelStaysWithItsCommand() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let admin = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { admin.shutdown() }
            let executor = HeldJobsExecutor()
            defer { executor.finish() }

            try await client.withDedicatedConnection { (connection) async throws in
                let blocked = Task(executorPreference: executor) {
                    try await connection.sendInterruptible(RedisCommand("BLPOP", "late-cancel", "30"), timeout: .seconds(40))
                }
                try await executor.waitForJobs(1)   // the task's start
                executor.release(1)                 // it queues the BLPOP and waits for the reply
                try await executor.waitForRun(1)
                _ = try await admin.send("LPUSH", "late-cancel", "value")
                try await executor.waitForJobs(2)   // the reply was read: the task is resumable
                blocked.cancel()
                executor.releaseAll()
                let reply = try await blocked.value
                #expect(reply.array?.last?.string == "value", "\(reply)")
            }
            // the same connection, kept idle for the next lease: its first command is not cancelled
            try await client.withDedicatedConnection { (connection) async throws in
                #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
            }
        }
    }

    /// The same window met by chance: cancels at varied moments around a PING's reply.
    @Test("sendInterruptible cancelled at varied moments: a later uncancelled command on the next lease never fails as cancelled",
          .timeLimit(.minutes(2)))
    func variedCancels() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            var cancelledLater = 0
            for round in 0..<400 {
                try await client.withDedicatedConnection { (connection) async throws in
                    let ping = Task { try await connection.sendInterruptible(RedisCommand("PING")) }
                    // 0 to ~200 µs: before the PING is sent, while it is in flight, after its reply
                    let until = ContinuousClock.now + .microseconds(round % 40 * 5)
                    while ContinuousClock.now < until {}
                    ping.cancel()
                    _ = try? await ping.value
                }
                try await client.withDedicatedConnection { (connection) async throws in
                    do {
                        #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
                    } catch let error as RedisError where error.code == .cancelled {
                        cancelledLater += 1
                    }
                }
            }
            #expect(cancelledLater == 0, "\(cancelledLater) of 400 uncancelled PINGs failed as cancelled")
        }
    }
}

/// A task executor whose jobs run, on a thread of its own, only as the test releases them.
private final class HeldJobsExecutor: TaskExecutor, @unchecked Sendable {
    // every field below is read and written only with `condition` locked
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var queued = 0
    private var ran = 0
    private var permits = 0
    private var finished = false

    init() {
        Thread.detachNewThread { [self] in runJobs() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        queued += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Lets `count` more jobs run.
    func release(_ count: Int) {
        condition.lock()
        permits += count
        condition.broadcast()
        condition.unlock()
    }

    /// Runs every job from now on.
    func releaseAll() {
        release(Int.max / 2)
    }

    /// Runs every job from now on, and ends the thread once none is left.
    func finish() {
        condition.lock()
        permits = Int.max / 2
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `count` jobs have been queued in all.
    func waitForJobs(_ count: Int) async throws {
        try await waitFor("\(count) jobs queued") { $0.queued >= count }
    }

    /// Waits until `count` jobs have run to their end.
    func waitForRun(_ count: Int) async throws {
        try await waitFor("\(count) jobs run") { $0.ran >= count }
    }

    private func waitFor(_ what: String, _ done: (HeldJobsExecutor) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let reached = condition.withLock { done(self) }
            if reached { return }
            if ContinuousClock.now > deadline {
                Issue.record("not within 10 s: \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    private func runJobs() {
        while true {
            condition.lock()
            while (jobs.isEmpty && !finished) || (!jobs.isEmpty && permits == 0) { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            permits -= 1
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
            condition.lock()
            ran += 1
            condition.unlock()
        }
    }
}
