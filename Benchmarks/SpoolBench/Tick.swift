import Spool

/// The job the throughput measurements push: `{"n":123}`.
struct Tick: JobParameters {
    static let jobName = "tick"
    let n: Int
}

/// Pushes `jobs` ticks (rounded down to a hundred) in batches of 100. With more than one task,
/// the tasks push at once, each every `tasks`-th batch, so that `tasks` batches can be in
/// flight: one encoded while Redis adds another.
func pushTicksInBatches(jobs: Int, tasks: Int = 1, producer: SpoolProducer, queue: QueueName) async throws {
    precondition(tasks >= 1, "pushTicksInBatches needs at least one task")
    let batches = jobs / 100
    @Sendable func push(_ batch: Int) async throws {
        try await producer.push((0..<100).map { Tick(n: batch * 100 + $0) }, to: queue)
    }
    if tasks == 1 {
        for batch in 0..<batches { try await push(batch) }
        return
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                for batch in stride(from: task, to: batches, by: tasks) { try await push(batch) }
            }
        }
        try await group.waitForAll()
    }
}

/// Pushes one tick, so that the producer's connection is open and the queue registered, then
/// times `jobs` ticks in batches of 100 (``pushTicksInBatches(jobs:tasks:producer:queue:)``);
/// `clockStarts` runs just before the clock starts (CPU and allocation counters).
func warmedBatchRate(
    jobs: Int, tasks: Int = 1, producer: SpoolProducer, queue: QueueName, clockStarts: () async throws -> Void = {}
) async throws -> Double {
    try await producer.push(Tick(n: -1), to: queue)
    try await clockStarts()
    return try await measureRate(count: jobs / 100 * 100) {
        try await pushTicksInBatches(jobs: jobs, tasks: tasks, producer: producer, queue: queue)
    }
}
