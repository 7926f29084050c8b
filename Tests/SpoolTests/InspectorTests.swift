import Foundation
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

@Suite("Inspector: lag, job lookup, dead-letter replay and purge")
struct InspectorTests {
    /// `status(of:)` refused such a prefix while `queueNames()` listed nothing under it (API audit).
    @Test("a key prefix that breaks the rule is refused by queueNames() as by every other reading")
    func badPrefix() async throws {
        try await QueueFixture.with { fixture in
            let inspector = SpoolInspector(client: fixture.client, prefix: "app{1}")
            for read in ["queueNames", "status"] {
                let error = await #expect(throws: SpoolError.self, "\(read)") {
                    if read == "queueNames" { _ = try await inspector.queueNames() } else { _ = try await inspector.status(of: QueueName("q")) }
                }
                #expect(error?.code == .invalidArgument, "\(read): \(String(describing: error))")
                #expect(error?.message.contains("key prefix") == true, "\(read): \(String(describing: error))")
            }
        }
    }

    @Test("lag equals the true backlog when the only consumer stopped mid-way")
    func lagWithStoppedConsumer() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("backlog")
            let keys = QueueKeys(queue: queue)
            try await fixture.producer.push((0..<10).map { Greeting(name: "\($0)") }, to: queue)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0")
            // a consumer takes three jobs and stops: never acks, never heartbeats
            try await fixture.redis("XREADGROUP", "GROUP", "default", "stopped", "COUNT", "3", "STREAMS", keys.stream, ">")
            let first = try await fixture.redis("XRANGE", keys.stream, "-", "+", "COUNT", "1")
            let firstMillis = Int64(first.array?.first?.array?.first?.string?.split(separator: "-").first ?? "") ?? 0
            let before = nowMillis()
            let status = try await SpoolInspector(client: fixture.client).status(of: queue)
            let after = nowMillis()

            let group = try #require(status.groups.first)
            #expect(status.length == 10)
            #expect(group.lag == 7, "undelivered jobs")
            #expect(group.pending == 3, "delivered, unfinished")
            #expect((group.lag ?? 0) + group.pending == 10, "the backlog is every job")
            // the oldest unfinished job is the first one (pending with the stopped consumer)
            #expect(group.lagSeconds * 1000 >= Double(before - firstMillis) - 1)
            #expect(group.lagSeconds * 1000 <= Double(after - firstMillis) + 1)
            let consumer = try #require(group.consumers.first)
            #expect(consumer.name == "stopped" && consumer.pending == 3 && !consumer.alive)
        }
    }

    @Test("replay from the dead-letter stream runs in the failed group only")
    func replayRunsInFailedGroupOnly() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("fanout")
            let failing = try GroupName("failing")
            let healthy = try GroupName("healthy")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            let failingRuns = Recorder()
            let healthyRuns = Recorder()
            let shouldFail = Mutex(true)
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue, group: failing) { _, context in
                failingRuns.record(context)
                if shouldFail.withLock({ $0 }) { throw NonRetryableError("the mail server said no") }
            }
            worker.register(Greeting.self, queue: queue, group: healthy) { _, context in healthyRuns.record(context) }
            try await running(worker) {
                try await waitUntil("both groups exist") {
                    (try await fixture.redis("XINFO", "GROUPS", keys.stream).array?.count ?? 0) == 2
                }
                let job = try await fixture.producer.push(Greeting(name: "replay me"), to: queue)
                try await healthyRuns.waitFor(1)
                try await waitUntil("the job is dead-lettered in the failing group") {
                    try await inspector.deadLetters(queue: queue, group: failing).count == 1
                }
                let letter = try #require(try await inspector.deadLetter(queue: queue, group: failing, id: "\(job.id)"))
                #expect(letter.reason == "non_retryable" && letter.error == "the mail server said no")
                // the healthy group acknowledges in batches (a few milliseconds after its handler
                // ran), so its state turns done a moment after the handler is seen running
                try await waitUntil("the job shows dead-lettered in the failing group, done in the healthy one") {
                    try await inspector.job(queue: queue, id: "\(job.id)").groups.map(\.state) == [.deadLettered, .done]
                }

                shouldFail.withLock { $0 = false }
                let replayed = try await inspector.replayDeadLetters(queue: queue, group: failing, filter: DeadLetterFilter(ids: ["\(job.id)"]))
                #expect(replayed == 1)
                try await failingRuns.waitFor(2)
                try await waitUntil("the replayed job is done in the failing group") {
                    try await inspector.job(queue: queue, id: "\(job.id)").groups.first?.state == .done
                }
                #expect(try await inspector.deadLetters(queue: queue, group: failing).isEmpty)
                #expect(failingRuns.executions.map(\.job) == ["\(job.id)", "\(job.id)"])
                #expect(failingRuns.executions.last?.attempt == 1, "attempts reset by replay")
            }
            #expect(healthyRuns.count == 1, "the other group did not run it again")
        }
    }

    @Test("replay keeps back a dead letter holding only part of an unreadable entry, replays the rest, and says so")
    func replayKeepsBackCutDeadLetters() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("cut")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            let shouldFail = Mutex(true)
            let runs = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in
                runs.record(context)
                if shouldFail.withLock({ $0 }) { throw NonRetryableError("no") }
            }
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                // no `v`, so unreadable, with 150 fields: its dead letter keeps 100
                var wide = RedisCommand("XADD", keys.stream, "*")
                for index in 0..<150 {
                    wide.append("f\(index)")
                    wide.append("x")
                }
                _ = try await fixture.client.send(wide)
                let job = try await fixture.producer.push(Greeting(name: "whole"), to: queue)
                try await waitUntil("both are dead-lettered") { try await inspector.deadLetters(queue: queue, group: .default).count == 2 }
                // "at most limit": a limit under 1 returned the first letter (API audit)
                #expect(try await inspector.deadLetters(queue: queue, group: .default, limit: 0).isEmpty)
                #expect(try await inspector.deadLetters(queue: queue, group: .default, limit: 1).count == 1)
                let cut = try #require(try await inspector.deadLetters(queue: queue, group: .default).first { $0.jobID == nil })
                #expect(cut.fields["dead_dropped_fields"] == "50")

                shouldFail.withLock { $0 = false }
                let failure = await #expect(throws: SpoolError.self) {
                    try await inspector.replayDeadLetters(queue: queue, group: .default)
                }
                #expect(failure?.message.contains("replayed 1; kept back 1 dead letter of cut: 1 holding only part") == true, "\(failure?.message ?? "")")
                #expect(failure?.message.contains(cut.entryID) == true)
                try await runs.waitFor(2)
                #expect(runs.executions.map(\.job) == ["\(job.id)", "\(job.id)"])
                #expect(try await inspector.deadLetters(queue: queue, group: .default).map(\.entryID) == [cut.entryID])
            }
        }
    }

    @Test("replay keeps back a dead letter holding no job fields, and replays the rest")
    func replayKeepsBackEmpty() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("bare")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            try await fixture.redis("XGROUP", "CREATE", keys.retry(.default), "default", "$", "MKSTREAM")
            // only Spool's bookkeeping (another client wrote an entry of nothing but `attempt`),
            // before and after a whole job
            let bare = try #require(try await fixture.redis("XADD", keys.dead(.default), "*", "attempt", "1", "dead_reason", "malformed").string)
            let job = try JobEnvelope.make(Greeting(name: "whole"))
            let fields = job.encodedFields.map { String(decoding: $0, as: UTF8.self) }
            _ = try await fixture.client.send(RedisCommand("XADD", [keys.dead(.default), "*"] + fields + ["dead_reason", "handler_error"]))
            try await fixture.redis("XADD", keys.dead(.default), "*", "spool_first_error", "x", "dead_reason", "malformed")
            let failure = await #expect(throws: SpoolError.self) {
                try await inspector.replayDeadLetters(queue: queue, group: .default)
            }
            #expect(failure?.message.contains("replayed 1; kept back 2 dead letters of bare: 2 holding no job fields at all") == true,
                    "\(failure?.message ?? "")")
            #expect(failure?.message.contains(bare) == true)
            #expect(try await fixture.redis("XLEN", keys.retry(.default)) == .integer(1))
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(2))
        }
    }

    @Test("a replay Redis refuses for some letters moves the others, of every batch, and counts them in its error")
    func replayPartlyRefused() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("refused")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            try await fixture.redis("XGROUP", "CREATE", keys.retry(.default), "default", "$", "MKSTREAM")
            // a letter another client wrote with 4,100 fields: the replay script cannot pass them
            // all to XADD (Lua's unpack), so Redis answers its move with an error
            let huge = (0..<4100).flatMap { ["f\($0)", "v"] }
            let refused = try #require(try await fixture.client.send(RedisCommand("XADD", [keys.dead(.default), "*"] + huge)).string)
            for index in 0..<150 {
                let fields = try JobEnvelope.make(Greeting(name: "\(index)")).encodedFields.map { String(decoding: $0, as: UTF8.self) }
                _ = try await fixture.client.send(RedisCommand("XADD", [keys.dead(.default), "*"] + fields + ["dead_reason", "handler_error"]))
            }
            let failure = await #expect(throws: SpoolError.self) {
                try await inspector.replayDeadLetters(queue: queue, group: .default)
            }
            let message = failure?.message ?? ""
            #expect(message.hasPrefix("replayed 150 dead letters of refused; 1 could not be moved (\(refused); the first: Redis at "), "\(message)")
            #expect(message.contains("unpack") && message.contains("run the replay again") && !message.contains("\n"), "\(message)")
            #expect(try await fixture.redis("XLEN", keys.retry(.default)) == .integer(150))
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(1))
        }
    }

    @Test("purge removes only the matching dead letters")
    func purgeOnlyMatching() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("purgeable")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            for (index, type) in ["email", "sms", "email", "push"].enumerated() {
                try await fixture.redis(
                    "XADD", keys.dead(.default), "*", "id", "job-\(index)", "type", type, "payload", "{}",
                    "dead_reason", "retries_exhausted", "dead_error", "boom \(index)", "dead_failed_at", "\(nowMillis())"
                )
            }
            let purgedByType = try await inspector.purgeDeadLetters(queue: queue, group: .default, filter: DeadLetterFilter(type: "email"))
            #expect(purgedByType == 2)
            #expect(try await inspector.deadLetters(queue: queue, group: .default).map(\.jobID) == ["job-1", "job-3"])
            let purgedByID = try await inspector.purgeDeadLetters(queue: queue, group: .default, filter: DeadLetterFilter(ids: ["job-3", "job-0"]))
            #expect(purgedByID == 1)
            #expect(try await inspector.deadLetters(queue: queue, group: .default).map(\.jobID) == ["job-1"])
            let future = DeadLetterFilter(since: nowMillis() + 60_000)
            #expect(try await inspector.purgeDeadLetters(queue: queue, group: .default, filter: future) == 0)
            #expect(try await fixture.redis("XLEN", keys.dead(.default)) == .integer(1))
        }
    }

    @Test("job lookup: pending with its consumer, waiting, scheduled retry, done, not found")
    func jobLocations() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("locate")
            let keys = QueueKeys(queue: queue)
            let inspector = SpoolInspector(client: fixture.client)
            let pushed = try await fixture.producer.push((0..<3).map { Greeting(name: "\($0)") }, to: queue)
            for group in ["a", "b", "c", "d"] { try await fixture.redis("XGROUP", "CREATE", keys.stream, group, "0") }
            try await fixture.redis("XREADGROUP", "GROUP", "a", "worker-1", "COUNT", "1", "STREAMS", keys.stream, ">")
            // group c: a retry waits for its backoff (as the fail script writes it: a MessagePack field list)
            let retryAt = nowMillis() + 600_000
            try await fixture.redis(
                "EVAL", "redis.call('ZADD', KEYS[1], ARGV[1], cmsgpack.pack({'v', '1', 'id', ARGV[2], 'type', 'greeting', 'attempt', '2'})) return 1",
                "1", keys.scheduled(try GroupName("c")), "\(retryAt)", "\(pushed[0].id)"
            )
            try await fixture.redis("ZADD", keys.done(try GroupName("d")), "1700000000000", "\(pushed[0].id)")

            let report = try await inspector.job(queue: queue, id: "\(pushed[0].id)")
            #expect(report.source == .stream && report.fields["type"] == "greeting")
            #expect(report.groups.map(\.group) == ["a", "b", "c", "d"])
            #expect(report.groups.map(\.state) == [.pending, .waiting, .retryScheduled, .done])
            #expect(report.groups[0].consumer == "worker-1" && report.groups[0].deliveries == 1)
            #expect(report.groups[2].retryAt == retryAt)
            #expect(report.groups[3].doneAt == 1_700_000_000_000)

            let missing = try await inspector.job(queue: queue, id: "\(JobID())")
            #expect(!missing.isFound && missing.groups.allSatisfy { $0.state == .notFound })

            let recent = try await inspector.recentEntries(queue: queue, count: 2)
            #expect(recent.map(\.jobID) == [pushed[2], pushed[1]].map { "\($0.id)" })

            await #expect(throws: SpoolError.self) { try await inspector.job(queue: try QueueName("nope"), id: "x") }
        }
    }
}

private func nowMillis() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}
