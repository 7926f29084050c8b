import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// Entries and keys another client broke: the worker dead-letters what it cannot read, keeps
/// retrying what Redis refuses, and never exits.
@Suite("Worker: bad input from other clients")
struct BadInputTests {
    @Test("invalid UTF-8, 100k fields, an oversize payload and JSON nested 10k deep are dead-lettered with a reason")
    func unreadableEntries() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("hostile")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            let log = CapturedLog()
            var worker = SpoolWorker(client: fixture.client, configuration: fixture.workerConfiguration(), logger: log.logger)
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                func base(_ id: String) -> RedisCommand {
                    RedisCommand("XADD", keys.stream, "*", "v", "1", "id", "0190f0f0-0000-7000-8000-00000000000\(id)")
                }
                var invalidUTF8 = base("1")
                invalidUTF8.append("type")
                invalidUTF8.append([0xff, 0xfe, 0x67] as [UInt8])
                invalidUTF8.append("payload")
                invalidUTF8.append("{}")
                var manyFields = base("2")
                manyFields.append("type")
                manyFields.append("greeting")
                manyFields.append("payload")
                manyFields.append("{}")
                for index in 0..<100_000 {
                    manyFields.append("x\(index)")
                    manyFields.append("y")
                }
                var oversize = base("3")
                oversize.append("type")
                oversize.append("greeting")
                oversize.append("payload")
                oversize.append([UInt8](repeating: 0x61, count: 600 * 1024))
                var deep = base("4")
                deep.append("type")
                deep.append("greeting")
                deep.append("payload")
                deep.append(String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000))
                let entryIDs = try await fixture.client.pipeline([invalidUTF8, manyFields, oversize, deep]).map { $0.string ?? "" }
                try await fixture.producer.push(Greeting(name: "after"), to: queue)
                try await recorder.waitFor(1)
                try await waitUntil("all four are dead-lettered") { try await fixture.redis("XLEN", keys.dead(.default)) == .integer(4) }
                let dead = (try await fixture.redis("XRANGE", keys.dead(.default), "-", "+").array ?? []).map(fields(of:))
                let expected = [("malformed", "UTF-8"), ("malformed", "fields"), ("malformed", "exceeds the limit"), ("non_retryable", "")]
                for (index, (reason, fragment)) in expected.enumerated() {
                    let letter = try #require(dead.first { $0["dead_entry"] == entryIDs[index] }, "entry \(index)")
                    #expect(letter["dead_reason"] == reason, "entry \(index): \(letter["dead_error"] ?? "")")
                    #expect(letter["dead_error"]?.contains(fragment) == true, "entry \(index): \(letter["dead_error"] ?? "")")
                }
                // the log names each job as its dead letter does, unreadable ones included (was `-`)
                let logged = log.metadata.filter { $0["spool.reason"] != nil }.compactMap { $0["spool.job.id"] }
                #expect(Set(logged) == Set((1...4).map { "0190f0f0-0000-7000-8000-00000000000\($0)" }), "\(logged)")
            }
        }
    }

    @Test("stream ids past Int64's range, an attempt of Int.max delivered again and a schedule score of inf crash neither the worker nor the inspector")
    func numbersAtTheirLimits() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("limits")
            let keys = QueueKeys(queue: queue)
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            // Redis takes any id up to 2^64 − 1 from XADD; this one is 2^63 ms. The job id is
            // not a UUIDv7 and there is no enqueued_at, so the job's time is the entry id's.
            _ = try await fixture.redis(
                "XADD", keys.stream, "9223372036854775808-0", "v", "1", "id", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
                "type", "greeting", "payload", #"{"name":"far"}"#
            )
            let inspector = SpoolInspector(client: fixture.client)
            let status = try await inspector.status(of: queue)
            #expect(status.groups.first?.lagSeconds == 0, "a job from the future has waited for nothing")
            _ = try await fixture.redis(
                "XADD", keys.stream, "*", "v", "1", "id", "0190f0f0-0000-7000-8000-000000000001",
                "type", "greeting", "payload", #"{"name":"max"}"#, "attempt", "\(Int.max)"
            )
            // a dead consumer held both, twice: the worker reclaims them with 3 deliveries, so
            // the attempt it counts is the entry's plus 2
            let read = try await fixture.redis("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "2", "STREAMS", keys.stream, ">")
            let ids = (read.array?.first?.array?[1].array ?? []).compactMap { $0.array?.first?.string }
            try #require(ids.count == 2)
            _ = try await fixture.client.send(RedisCommand("XCLAIM", [keys.stream, "default", "ghost", "0"] + ids))
            // a delayed job whose due time another client set to +inf
            let delayed = try await fixture.producer.push(Greeting(name: "later"), to: queue, options: PushOptions(delay: .seconds(3600)))
            let member = try #require(try await fixture.redis("ZRANGE", keys.delayed, "0", "0").array?.first?.bytes)
            var infinite = RedisCommand("ZADD", keys.delayed, "XX", "+inf")
            infinite.append(member)
            _ = try await fixture.client.send(infinite)
            #expect(try await inspector.job(queue: queue, id: "\(delayed.id)").delayedUntil == Int64.max)

            let recorder = Recorder()
            let enqueuedAt = Mutex<[String: Int64]>([:])
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { greeting, context in
                enqueuedAt.withLock { $0[greeting.name] = context.enqueuedAt }
                recorder.record(context)
            }
            try await running(worker) {
                try await recorder.waitFor(1)
                try await waitUntil("the job past its attempts is dead-lettered") {
                    try await fixture.redis("XLEN", keys.dead(.default)) == .integer(1)
                }
            }
            #expect(enqueuedAt.withLock { $0 } == ["far": Int64.max])
            let letter = try #require(try await inspector.deadLetters(queue: queue, group: .default).first)
            #expect(letter.jobID == "0190f0f0-0000-7000-8000-000000000001" && letter.reason == "max_deliveries", "\(letter)")
        }
    }

    @Test("delayed members another client wrote that cannot be promoted are dead-lettered with their bytes, and the jobs due after them still run")
    func unreadableDelayedMembers() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("hostile.delayed")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            func str(_ text: String) -> [UInt8] { [0xa0 | UInt8(text.utf8.count)] + Array(text.utf8) }
            let tooMany: [UInt8] = [0xdc, 0x07, 0xd2] + Array(repeating: str("a"), count: 2002).flatMap { $0 }
            // each with what the dead letter must say; all due before the good job
            let members: [(bytes: [UInt8], problem: String)] = [
                ([0xc1], "not a msgpack array"),
                ([0x92] + str("v") + [0xc3], "element 2 is a msgpack boolean"),
                ([0x92] + str("v") + [0x91] + str("x"), "element 2 is a msgpack table"),
                ([0x92, 0xc4, 0x01, 0x76, 0xc4, 0x01, 0x31], "msgpack str"),
                ([0x93] + str("a") + str("b") + str("c"), "not an even, non-empty list"),
                (tooMany, "more than 1000 fields"),
                // a job with msgpack nils between its type and its payload: before, it was
                // promoted without the fields after them, and the member was gone
                ([0x9a] + ["v", "1", "id", "job-9", "type", "greeting"].flatMap(str) + [0xc0, 0xc0]
                    + str("payload") + str("{}"), "element 7 is a msgpack nil"),
            ]
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                for (index, member) in members.enumerated() {
                    var add = RedisCommand("ZADD", keys.delayed, "\(index + 1)")
                    add.append(member.bytes)
                    _ = try await fixture.client.send(add)
                }
                let good = try await fixture.producer.push(Greeting(name: "due after them"), to: queue, options: PushOptions(delay: .milliseconds(1)))
                try await recorder.waitFor(1)
                #expect(recorder.executions.map(\.job) == ["\(good.id)"])
                try await waitUntil("all of them are dead-lettered") {
                    try await fixture.redis("XLEN", keys.dead(.default)) == .integer(Int64(members.count))
                }
                #expect(try await fixture.redis("ZCARD", keys.delayed) == .integer(0))
                let dead = try await fixture.redis("XRANGE", keys.dead(.default), "-", "+").array ?? []
                for member in members {
                    // the raw reply: the member's bytes need not be UTF-8
                    let letter = try #require(dead.first { entry in
                        let values = entry.array?[1].array ?? []
                        return stride(from: 0, to: values.count - 1, by: 2).contains {
                            values[$0].string == "spool_member" && values[$0 + 1].bytes == member.bytes
                        }
                    }, "the member showing \(member.problem) is kept byte for byte")
                    let text = fields(of: letter)
                    #expect(text["dead_reason"] == "malformed")
                    #expect(text["dead_error"]?.contains("unreadable scheduled member of \(keys.delayed)") == true, "\(text["dead_error"] ?? "")")
                    #expect(text["dead_error"]?.contains(member.problem) == true, "\(text["dead_error"] ?? "")")
                }
            }
        }
    }

    @Test("a dead letter Redis refuses (the dead-letter key holds a string) is written once the key is fixed, without a restart")
    func refusedDeadLetterIsRetried() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("refused")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in
                recorder.record(context)
                throw NonRetryableError("no such customer")
            }
            try await fixture.redis("SET", keys.dead(.default), "not a stream")
            try await running(worker) {
                let job = try await fixture.producer.push(Greeting(name: "x"), to: queue)
                try await recorder.waitFor(1)
                try await waitUntil("Redis refused the dead letter") {
                    (try await fixture.redis("INFO", "errorstats").string ?? "").contains("errorstat_WRONGTYPE")
                }
                try await fixture.redis("DEL", keys.dead(.default))
                try await waitUntil("the dead letter is written and the job acknowledged") {
                    let pending = try await fixture.redis("XPENDING", keys.stream, "default").array?.first
                    return try await fixture.redis("XLEN", keys.dead(.default)) == .integer(1) && pending == .integer(0)
                }
                let letter = try #require(try await SpoolInspector(client: fixture.client).deadLetters(queue: queue, group: .default).first)
                #expect(letter.jobID == "\(job.id)" && letter.reason == "non_retryable")
                #expect(recorder.count == 1, "the handler ran once")
            }
        }
    }

    @Test("a destroyed group and a deleted stream are recreated at the start, never at $, and work goes on")
    func destroyedGroupAndDeletedStream() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("fragile")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil("the group exists") { try await fixture.redis("EXISTS", keys.retry(.default)) == .integer(1) }
                try await fixture.redis("XGROUP", "DESTROY", keys.stream, "default")
                // pushed while the group is missing: a group recreated at $ would skip it
                let first = try await fixture.producer.push(Greeting(name: "while destroyed"), to: queue)
                try await recorder.waitFor(1)
                try await fixture.redis("DEL", keys.stream)
                let second = try await fixture.producer.push(Greeting(name: "after delete"), to: queue)
                try await recorder.waitFor(2)
                #expect(recorder.executions.map(\.job) == ["\(first.id)", "\(second.id)"])
            }
        }
    }

    @Test("a stream key of the wrong type: the worker keeps retrying and resumes once it is fixed")
    func wrongType() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("clobbered")
            let keys = QueueKeys(queue: queue)
            let recorder = Recorder()
            try await fixture.redis("SET", keys.stream, "not a stream")
            var worker = fixture.worker()
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            // the worker cannot create its group on a string key: run() reports that clearly
            await #expect {
                try await running(worker) {}
            } throws: { error in
                "\(error)".contains("WRONGTYPE")
            }
            try await fixture.redis("DEL", keys.stream)
            try await running(worker) {
                // (the retry stream's group already exists from the failed start; wait for the main one)
                try await waitUntil("the group exists") {
                    (try await fixture.redis("XINFO", "GROUPS", keys.stream).array?.count ?? 0) == 1
                }
                // a first job run shows the worker's start is over (clobbering the stream during
                // the start is the first half of this test)
                let first = try await fixture.producer.push(Greeting(name: "started"), to: queue)
                try await recorder.waitFor(1)
                // clobbered while running: fetches fail with WRONGTYPE and are retried with backoff
                let wrongTypeErrors = try await errorCount(fixture, "WRONGTYPE")
                try await fixture.redis("DEL", keys.stream)
                try await fixture.redis("SET", keys.stream, "oops")
                try await waitUntil("a fetch met the wrong type") { try await errorCount(fixture, "WRONGTYPE") > wrongTypeErrors }
                try await fixture.redis("DEL", keys.stream)
                let job = try await fixture.producer.push(Greeting(name: "recovered"), to: queue)
                try await recorder.waitFor(2)
                #expect(recorder.executions.map(\.job) == ["\(first.id)", "\(job.id)"])
            }
        }
    }
}

/// How many error replies starting with `prefix` Redis has sent (`INFO errorstats`).
func errorCount(_ fixture: QueueFixture, _ prefix: String) async throws -> Int {
    let info = try await fixture.redis("INFO", "errorstats").string ?? ""
    guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("errorstat_\(prefix):") }),
        let count = line.split(separator: "=").dropFirst().first
    else { return 0 }
    return Int(String(count.filter(\.isNumber))) ?? 0
}
