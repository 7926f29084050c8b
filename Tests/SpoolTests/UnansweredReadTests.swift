import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Worker: a read carried out whose reply never came")
struct UnansweredReadTests {
    @Test("after its read fails, a worker runs the entries Redis delivered to it unanswered, and not the ones it holds")
    func unansweredReadIsRecovered() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unanswered")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            let gate = AsyncGate()
            let holder = Mutex<String?>(nil)
            var worker = fixture.worker(name: "survivor") { configuration in
                // long enough that only the fix can run the entries within the test's wait
                configuration.visibilityTimeout = .seconds(600)
                // a blocking read found in its first second has three more to go: ample time to
                // kill it while it waits (a graceful shutdown waits for the last one)
                configuration.fetchBlockTime = .seconds(4)
            }
            worker.subscribe(queue: queue, options: .init(concurrency: 4))
            worker.register(Greeting.self, queue: queue) { greeting, context in
                recorder.record(context)
                // the first job holds its slot until the end: it runs while the worker recovers
                if greeting.name == "holder" { await gate.wait() }
            }
            try await running(worker) {
                try await waitUntil("the worker is subscribed") {
                    try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1)
                }
                let held = try await fixture.producer.push(Greeting(name: "holder"), to: queue)
                holder.withLock { $0 = "\(held.id)" }
                try await recorder.waitFor(1)

                // three jobs' fields, as a producer writes them
                let staging = try QueueName("staging")
                let staged = try await fixture.producer.push((0..<3).map { Greeting(name: "lost \($0)") }, to: staging)
                let fields = (try await fixture.redis("XRANGE", QueueKeys(queue: staging).stream, "-", "+").array ?? []).map { item in
                    (item.array?.last?.array ?? []).map { $0.string ?? "" }
                }
                try #require(fields.count == 3)

                // the worker waits in a blocking read with its three free slots
                let blocked = try await blockedRead(fixture)
                // Added and read for the worker's consumer in one transaction, so the blocked
                // read (served after EXEC) finds nothing: as if a read of the worker had been
                // carried out and its reply lost.
                var commands = [RedisCommand("MULTI")]
                for entry in fields { commands.append(RedisCommand("XADD", [keys.stream, "*"] + entry)) }
                commands.append(RedisCommand("XREADGROUP", "GROUP", "default", "survivor", "COUNT", "10", "STREAMS", keys.stream, ">"))
                commands.append(RedisCommand("EXEC"))
                let replies = try await fixture.client.pipeline(commands)
                let delivered = deliveredCount(replies.last?.array?.last)
                try #require(delivered == 3, "the transaction delivered \(delivered) entries to the worker's consumer")
                // the worker's read fails
                try await fixture.redis("CLIENT", "KILL", "ID", blocked)

                try await recorder.waitFor(4)
                gate.open()
                try await waitUntil("every job is acknowledged") {
                    try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0)
                }
                let runs = recorder.executions.map(\.job)
                #expect(runs.sorted() == ([holder.withLock { $0 } ?? ""] + staged.map { "\($0.id)" }).sorted(),
                        "each job ran once, the held one too")
            }
        }
    }

    @Test("a worker that stops after its read failed hands back the entries Redis delivered to it unanswered")
    func unansweredReadIsHandedBackAtStop() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unanswered")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker(name: "leaving") { configuration in
                configuration.fetchBlockTime = .seconds(4)
            }
            // no retries: left pending, each job would be reclaimed as a second delivery and
            // dead-lettered unrun
            worker.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in recorder.record(context) }
            let run = Task { try await worker.run() }
            try await waitUntil("the worker is subscribed") {
                try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1)
            }
            let blocked = try await blockedRead(fixture)
            // three jobs added and read for the worker's consumer in one transaction, as if a
            // read of the worker had been carried out and its reply lost
            try #require(try await deliverUnanswered(fixture, keys, to: "leaving", count: 3).count == 3)
            // the worker stops (its task is cancelled) while it waits in that read; then the
            // read fails
            run.cancel()
            try await fixture.redis("CLIENT", "KILL", "ID", blocked)
            try await run.value

            #expect(recorder.count == 0)
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            #expect(try await handedBack(fixture, keys) == 3)
            // the next worker runs them, each as its first attempt
            var next = fixture.worker()
            next.register(Greeting.self, queue: queue, retry: RetryStrategy.none) { _, context in recorder.record(context) }
            try await running(next) {
                try await recorder.waitFor(3)
            }
            #expect(recorder.executions.map(\.attempt) == [1, 1, 1])
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(0))
        }
    }

    @Test("entries an unanswered reclaim delivered run with the delivery count Redis kept for them")
    func unansweredReclaimKeepsDeliveryCount() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unanswered")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker(name: "claimer") { configuration in
                configuration.visibilityTimeout = .seconds(600)
                configuration.fetchBlockTime = .seconds(4)
            }
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil("the worker is subscribed") {
                    try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1)
                }
                let blocked = try await blockedRead(fixture)
                // two jobs delivered to the worker's consumer in a transaction (so its blocked
                // read finds nothing), then claimed for it as a second delivery: as if a
                // reclaim of the worker had been carried out and its reply lost
                let ids = try await deliverUnanswered(fixture, keys, to: "claimer", count: 2)
                try #require(ids.count == 2)
                let claimed = try await fixture.client.send(RedisCommand(
                    "XCLAIM", [keys.stream, "default", "claimer", "0"] + ids + ["RETRYCOUNT", "2", "JUSTID"]
                ))
                try #require(claimed.array?.count == 2)
                // the worker's read fails: it looks for what it was delivered unanswered
                try await fixture.redis("CLIENT", "KILL", "ID", blocked)
                try await recorder.waitFor(2)
            }
            // the second delivery counts as an attempt, as it does for any reclaimed job
            #expect(recorder.executions.map(\.attempt) == [2, 2])
        }
    }

    @Test("looking for unanswered deliveries counts no delivery of the jobs the worker runs")
    func recoveryLeavesDeliveryCounts() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unanswered")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            let gate = AsyncGate()
            defer { gate.open() }
            var worker = fixture.worker(name: "runner") { configuration in
                configuration.visibilityTimeout = .seconds(600)
                configuration.fetchBlockTime = .seconds(4)
            }
            worker.subscribe(queue: queue, options: .init(concurrency: 2))
            worker.register(Greeting.self, queue: queue) { _, context in
                recorder.record(context)
                await gate.wait()
            }
            try await running(worker) {
                try await waitUntil("the worker is subscribed") {
                    try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1)
                }
                try await fixture.producer.push(Greeting(name: "long"), to: queue)
                try await recorder.waitFor(1)
                // each failed read makes the worker look for deliveries it never saw, before
                // its next read
                var killed: Set<String> = []
                for _ in 0..<2 {
                    let blocked = try await blockedRead(fixture, not: killed)
                    try await fixture.redis("CLIENT", "KILL", "ID", blocked)
                    killed.insert(blocked)
                }
                _ = try await blockedRead(fixture, not: killed)
                let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "10").array ?? []
                #expect(pending.first?.array?.last == .integer(1), "delivered once: \(pending)")
                gate.open()
            }
        }
    }

    /// The client id of the one connection waiting in `XREADGROUP … BLOCK`, sent less than a
    /// second ago, other than those in `killed`.
    private func blockedRead(_ fixture: QueueFixture, not killed: Set<String> = []) async throws -> String {
        var id: String?
        try await waitUntil("the worker waits in a blocking read sent less than a second ago") {
            let line = try await blockedReadClient(fixture, withinASecond: true)
            id = line.flatMap { $0.split(separator: " ").first { $0.hasPrefix("id=") } }.map { String($0.dropFirst(3)) }
            return id.map { !killed.contains($0) } ?? false
        }
        return try #require(id)
    }
}

/// The number of entries in an `XREADGROUP` reply.
private func deliveredCount(_ reply: RESPValue?) -> Int {
    (reply?.array ?? []).reduce(0) { $0 + ($1.array?.last?.array?.count ?? 0) }
}

/// Adds `count` jobs and reads them for `consumer` in one transaction, so a blocked read of
/// that consumer finds nothing: as if a read of the worker had been carried out and its reply
/// lost. Returns the entry ids delivered.
private func deliverUnanswered(_ fixture: QueueFixture, _ keys: QueueKeys, to consumer: String, count: Int) async throws -> [String] {
    var commands = [RedisCommand("MULTI")]
    for index in 0..<count {
        let envelope = try JobEnvelope.make(Greeting(name: "lost \(index)"))
        commands.append(RedisCommand("XADD", [keys.stream, "*"] + envelope.encodedFields.map { String(decoding: $0, as: UTF8.self) }))
    }
    commands.append(RedisCommand("XREADGROUP", "GROUP", "default", consumer, "COUNT", "10", "STREAMS", keys.stream, ">"))
    commands.append(RedisCommand("EXEC"))
    let replies = try await fixture.client.pipeline(commands)
    return (replies.last?.array?.last?.array?.first?.array?.last?.array ?? []).compactMap { $0.array?.first?.string }
}
