import Spool
import SpoolRedis
import SpoolTesting
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
            var worker = fixture.worker()
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
