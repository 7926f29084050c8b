@testable import Spool
import CoreMetrics
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Worker: the fetch script against Redis")
struct FetchScriptTests {
    @Test("it acknowledges and records completions, reads due retries first, and flags jobs already completed")
    func acknowledgeAndRead() async throws {
        try await QueueFixture.with { fixture in
            let keys = try await Self.createGroups(fixture, queue: "fetch-script")
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            func add(_ stream: String, job: String) async throws -> String {
                try await Self.add(fixture, stream, job: job)
            }
            let jobs = (0..<4).map { _ in JobID().description }
            let first = try await add(keys.stream, job: jobs[0])
            let second = try await add(keys.stream, job: jobs[1])
            let again = try await add(keys.stream, job: jobs[0])   // the first job, pushed twice
            let retried = try await add(retry, job: jobs[2])
            _ = try await fixture.redis("ZADD", done, "1", jobs[3])
            let finished = try await add(keys.stream, job: jobs[3])   // completed before

            func fetch(count: Int, readRetries: Bool, acks: [(entry: String, job: String)]) async throws -> [(entry: StreamEntry, duplicate: Bool)] {
                var arguments = ["default", "me", String(count), readRetries ? "1" : "0", "1", "1000", "1", String(acks.count), "0"]
                arguments += acks.map(\.entry) + acks.map(\.job)
                let reply = try await fixture.client.evaluate(SpoolScripts.fetch, keys: [keys.stream, retry, done], arguments: arguments)
                return SubscriptionRunner.parseFetchReply(reply)
            }
            func summary(_ read: [(entry: StreamEntry, duplicate: Bool)]) -> [String] {
                read.map { "\($0.entry.source == .retry ? "retry" : "main") \($0.entry.id) \($0.duplicate)" }
            }

            // due retries first, then the main stream, up to the count
            let read = try await fetch(count: 2, readRetries: true, acks: [])
            #expect(summary(read) == ["retry \(retried) false", "main \(first) false"])
            #expect(read.first.flatMap { $0.entry.fields }.flatMap { SubscriptionRunner.field("id", in: $0) } == jobs[2])
            // completing the first job records it; its second copy is then a duplicate, and so
            // is the job completed before
            let next = try await fetch(count: 10, readRetries: false, acks: [(first, jobs[0])])
            #expect(summary(next) == ["main \(second) false", "main \(again) true", "main \(finished) true"])
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(3), "the first entry was acknowledged")
            #expect(try await fixture.redis("ZSCORE", done, jobs[0]) != .null)
            // with nothing left, a read returns nothing
            #expect(try await fetch(count: 10, readRetries: true, acks: []).isEmpty)
        }
    }

    @Test("it acknowledges and reads more than Lua's unpack takes at once (9,000 of each)")
    func manyAtOnce() async throws {
        try await QueueFixture.with { fixture in
            let keys = try await Self.createGroups(fixture, queue: "fetch-many")
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            let count = 9000
            let jobs = (0..<count).map { _ in JobID().description }
            func fill(_ stream: String) async throws -> [String] {
                let replies = try await fixture.client.pipeline(jobs.map {
                    RedisCommand("XADD", stream, "*", "v", "1", "id", $0, "type", "t", "payload", "{}")
                })
                return replies.map { $0.string ?? "" }
            }
            // 9,000 finished jobs to acknowledge, and 9,000 due retries of the same jobs to read
            let finished = try await fill(keys.stream)
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "me", "COUNT", "\(count)", "STREAMS", keys.stream, ">")
            _ = try await fill(retry)
            var arguments = ["default", "me", String(count), "1", "1", "1000", "1", String(count), "0"]
            arguments += finished + jobs
            let reply = try await fixture.client.evaluate(SpoolScripts.fetch, keys: [keys.stream, retry, done], arguments: arguments)
            let read = SubscriptionRunner.parseFetchReply(reply)
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0))
            #expect(try await fixture.redis("ZCARD", done) == .integer(Int64(count)))
            // every retry read, each a duplicate of a job just completed
            #expect(read.count == count)
            #expect(read.allSatisfy { $0.entry.source == .retry && $0.duplicate })
        }
    }

    @Test("the read without Lua acknowledges in a transaction, records completions, and flags jobs already completed")
    func acknowledgeThenRead() async throws {
        try await QueueFixture.with { fixture in
            let keys = try await Self.createGroups(fixture, queue: "plain-read")
            let retry = keys.retry(.default)
            let done = keys.done(.default)
            func add(_ stream: String, job: String) async throws -> String {
                try await Self.add(fixture, stream, job: job)
            }
            var configuration = SpoolWorker.Configuration()
            configuration.consumerName = "me"
            let runner = SubscriptionRunner(
                client: fixture.client, keys: keys, group: .default, subscription: Subscription(options: .init()),
                configuration: configuration, logger: fixture.logger, metricsFactory: NOOPMetricsHandler.instance
            )
            func read(count: Int, acks: [SubscriptionState.Completion]) async throws -> [String] {
                try await runner.acknowledgeAndRead(count: count, readRetries: false, completions: acks).entries.map {
                    "\($0.entry.source == .retry ? "retry" : "main") \($0.entry.id) \($0.duplicate)"
                }
            }
            func completion(_ entry: String, _ source: StreamEntry.Source, _ job: String) throws -> SubscriptionState.Completion {
                SubscriptionState.Completion(entryID: try #require(StreamID(entry)), source: source, jobID: JobID(job))
            }
            let jobs = (0..<4).map { _ in JobID().description }
            let first = try await add(keys.stream, job: jobs[0])
            let second = try await add(keys.stream, job: jobs[1])
            let again = try await add(keys.stream, job: jobs[0])   // the first job, pushed twice
            // completed just now (the transaction forgets what is older than the dedup window)
            _ = try await fixture.redis("ZADD", done, String(JobID.currentMillis()), jobs[3])
            let finished = try await add(keys.stream, job: jobs[3])   // completed before
            // a retry this consumer holds, to be acknowledged (and deleted) with a completion
            let retried = try await add(retry, job: jobs[2])
            _ = try await fixture.redis("XREADGROUP", "GROUP", "default", "me", "STREAMS", retry, ">")

            // new jobs only (no retries on this path), up to the count
            #expect(try await read(count: 2, acks: []) == ["main \(first) false", "main \(second) false"])
            // completing the first job records it: its second copy is a duplicate, and so is
            // the job completed before
            let next = try await read(count: 10, acks: [try completion(first, .main, jobs[0]), try completion(retried, .retry, jobs[2])])
            #expect(next == ["main \(again) true", "main \(finished) true"])
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(3), "the first entry was acknowledged")
            #expect(try await fixture.redis("XLEN", retry) == .integer(0), "the finished retry was acknowledged and deleted")
            #expect(try await fixture.redis("XPENDING", retry, "default").array?.first == .integer(0))
            #expect(try await fixture.redis("ZSCORE", done, jobs[0]) != .null)
            #expect(try await fixture.redis("ZSCORE", done, jobs[2]) != .null)
            // with nothing left, a read returns nothing
            #expect(try await read(count: 10, acks: []).isEmpty)

            // acknowledging fails (the done set is not a set) but reading works: the job is
            // returned (not a duplicate: no verdict could be had), and the completion waits
            // for the next call
            _ = try await fixture.redis("DEL", done)
            _ = try await fixture.redis("SET", done, "not a sorted set")
            let late = try await add(keys.stream, job: jobs[1])
            runner.state.complete(try completion(second, .main, jobs[1]))
            let batch = runner.state.takeCompletions(forRead: true)
            let read = try await runner.acknowledgeAndRead(count: 10, readRetries: false, batch: batch)
            #expect(read.map { "\($0.entry.id) \($0.duplicate)" } == ["\(late) false"])
            let waiting = runner.state.takeCompletions()
            #expect(waiting.completions.map(\.entryID) == [try #require(StreamID(second))])
            // Redis does not roll a transaction back: the XACK before the failed ZADD took
            // effect (sending it again is harmless), the dedup record did not
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(3))
        }
    }

    @Test("with dedup off, reads flag nothing and acknowledging records nothing in the done set")
    func dedupOff() async throws {
        try await QueueFixture.with { fixture in
            let keys = try await Self.createGroups(fixture, queue: "no-dedup")
            let done = keys.done(.default)
            var configuration = SpoolWorker.Configuration()
            configuration.consumerName = "me"
            configuration.fetchBlockTime = .milliseconds(100)
            let runner = SubscriptionRunner(
                client: fixture.client, keys: keys, group: .default, subscription: Subscription(options: .init(dedup: false)),
                configuration: configuration, logger: fixture.logger, metricsFactory: NOOPMetricsHandler.instance
            )
            func flags(_ read: [(entry: StreamEntry, duplicate: Bool)]) -> [Bool] { read.map(\.duplicate) }
            let jobs = (0..<2).map { _ in JobID().description }
            // completed just now: with dedup on, its copies would be flagged
            _ = try await fixture.redis("ZADD", done, String(JobID.currentMillis()), jobs[0])
            let first = try await Self.add(fixture, keys.stream, job: jobs[0])
            _ = try await Self.add(fixture, keys.stream, job: jobs[0])
            // the busy worker's read (no Lua)
            #expect(flags(try await runner.acknowledgeAndRead(count: 10, readRetries: false, completions: []).entries) == [false, false])
            // the script's read, acknowledging
            let completion = SubscriptionState.Completion(entryID: try #require(StreamID(first)), source: .main, jobID: JobID(jobs[0]))
            _ = try await Self.add(fixture, keys.stream, job: jobs[0])
            #expect(flags(try await runner.acknowledgeAndRead(count: 10, readRetries: true, completions: [completion]).entries) == [false])
            // the blocking read
            _ = try await Self.add(fixture, keys.stream, job: jobs[0])
            #expect(flags(try await runner.blockingRead(count: 10)) == [false])
            // a transaction's acknowledgement records nothing either
            let second = try await Self.add(fixture, keys.stream, job: jobs[1])
            let read = try await runner.acknowledgeAndRead(count: 10, readRetries: false, completions: []).entries
            #expect(read.map(\.entry.id) == [try #require(StreamID(second))])
            let finished = SubscriptionState.Completion(entryID: try #require(StreamID(second)), source: .main, jobID: JobID(jobs[1]))
            #expect(try await runner.acknowledgeAndRead(count: 10, readRetries: false, completions: [finished]).entries.isEmpty)
            #expect(try await fixture.redis("ZSCORE", done, jobs[1]) == .null)
            #expect(try await fixture.redis("ZCARD", done) == .integer(1), "only the entry the test put there")
            #expect(try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(3), "first and second acknowledged")
        }
    }

    /// The queue's keys, with group `default` created at `0` on its main and retry streams.
    private static func createGroups(_ fixture: QueueFixture, queue: String) async throws -> QueueKeys {
        let keys = QueueKeys(queue: try QueueName(queue))
        for stream in [keys.stream, keys.retry(.default)] {
            _ = try await fixture.redis("XGROUP", "CREATE", stream, "default", "0", "MKSTREAM")
        }
        return keys
    }

    /// Adds a job entry with Spool's fields; returns its entry id.
    private static func add(_ fixture: QueueFixture, _ stream: String, job: String) async throws -> String {
        try await fixture.redis("XADD", stream, "*", "v", "1", "id", job, "type", "t", "payload", "{}").string ?? ""
    }
}
