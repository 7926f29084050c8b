import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Producer")
struct ProducerTests {
    @Test("push writes one envelope to the stream and registers the queue")
    func pushWritesEnvelope() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("emails")
            let result = try await fixture.producer.push(Greeting(name: "Ada"), to: queue)
            #expect(!result.isDuplicate)
            let keys = QueueKeys(queue: queue)
            let entries = try await fixture.redis("XRANGE", keys.stream, "-", "+").array ?? []
            #expect(entries.count == 1)
            let fields = entries[0].array?[1].array?.compactMap(\.bytes) ?? []
            let envelope = try JobEnvelope.decode(fields: fields)
            #expect(envelope.id == result.id)
            #expect(envelope.type == "greeting")
            #expect(String(decoding: envelope.payload, as: UTF8.self) == #"{"name":"Ada"}"#)
            #expect(try await fixture.redis("SMEMBERS", "spool:queues") == .array([.bulkString(Array("emails".utf8))]))
        }
    }

    @Test("a queue whose first push failed (Redis down) is registered by the next push that succeeds")
    func registrationAfterFailedFirstPush() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }
            let producer = SpoolProducer(client: client, logger: Logger(label: "spool.test"))
            let queue = try QueueName("late")
            try await server.stop()
            await #expect(throws: SpoolError.self) { try await producer.push(Greeting(name: "refused"), to: queue) }
            try await server.restart()
            // the client may still be in its reconnect backoff: push again until one goes through
            try await waitUntil("a push succeeds") { (try? await producer.push(Greeting(name: "kept"), to: queue)) != nil }
            #expect(try server.cli("SMEMBERS", "spool:queues") == "late")
            #expect(try server.cli("XLEN", QueueKeys(queue: queue).stream) == "1")
        }
    }

    @Test("batch push: N jobs, one round trip, results in order")
    func batchPush() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("batch")
            let results = try await fixture.producer.push((0..<250).map { Greeting(name: "n\($0)") }, to: queue)
            #expect(results.count == 250)
            #expect(Set(results.map(\.id)).count == 250)
            #expect(try await fixture.storedJobIDs(queue) == results.map(\.id))
        }
    }

    /// The first keyed push since Redis started met NOSCRIPT and ran after the batch's others.
    @Test("a batch mixing jobs with and without a dedup key is stored in its order, on a server that has not loaded the script")
    func batchWithKeysKeepsOrder() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("mixed")
            let envelopes = try (0..<6).map { index in
                try JobEnvelope.make(Greeting(name: "n\(index)"), key: index % 2 == 1 ? "key-\(index)" : nil)
            }
            let results = try await fixture.producer.push(envelopes, to: queue)
            #expect(results.map(\.id) == envelopes.map(\.id) && !results.contains(where: \.isDuplicate))
            #expect(try await fixture.storedJobIDs(queue) == envelopes.map(\.id))
        }
    }

    @Test("a dedup key makes push idempotent within its window and returns the first id")
    func dedupKey() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("orders")
            let options = PushOptions(dedupKey: "order-42", dedupWindow: .seconds(60))
            let first = try await fixture.producer.push(Greeting(name: "a"), to: queue, options: options)
            let second = try await fixture.producer.push(Greeting(name: "b"), to: queue, options: options)
            #expect(!first.isDuplicate)
            #expect(second.isDuplicate)
            #expect(second.id == first.id)
            #expect(try await fixture.redis("XLEN", QueueKeys(queue: queue).stream) == .integer(1))
            let ttl = try await fixture.redis("PTTL", QueueKeys(queue: queue).dedupKey("order-42")).int ?? 0
            #expect(ttl > 0 && ttl <= 60_000)
            let other = try await fixture.producer.push(Greeting(name: "c"), to: queue, options: PushOptions(dedupKey: "order-43"))
            #expect(!other.isDuplicate && other.id != first.id)
        }
    }

    @Test("a dedup marker that names the pushed job itself (an earlier send of the same push) reports it stored, not a duplicate")
    func dedupMarkerOfTheSameJob() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("resent")
            let keys = QueueKeys(queue: queue)
            let envelope = try JobEnvelope.make(Greeting(name: "a"), key: "order-9")
            let delayed = try JobEnvelope.make(Greeting(name: "b"), key: "order-10")
            let later = PushOptions(delay: .seconds(600))
            for _ in 0..<2 {
                let single = try await fixture.producer.push(envelope, to: queue)
                #expect(single == PushResult(id: envelope.id, isDuplicate: false))
                let batch = try await fixture.producer.push([envelope], to: queue)
                #expect(batch == [PushResult(id: envelope.id, isDuplicate: false)])
                let scheduled = try await fixture.producer.push(delayed, to: queue, options: later)
                #expect(scheduled == PushResult(id: delayed.id, isDuplicate: false))
            }
            // stored once each
            #expect(try await fixture.redis("XLEN", keys.stream) == .integer(1))
            #expect(try await fixture.redis("ZCARD", keys.delayed) == .integer(1))
            // another job with the key is still a duplicate of the first
            let other = try await fixture.producer.push(try JobEnvelope.make(Greeting(name: "c"), key: "order-9"), to: queue)
            #expect(other == PushResult(id: envelope.id, isDuplicate: true))
        }
    }

    @Test("a push with a dedup key that Redis refuses sets no marker: the push goes through once the cause is fixed")
    func refusedPushSetsNoMarker() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("wrongtype")
            let keys = QueueKeys(queue: queue)
            try await fixture.redis("SET", keys.stream, "not a stream")
            let options = PushOptions(dedupKey: "order-7")
            await #expect(throws: SpoolError.self) {
                try await fixture.producer.push(Greeting(name: "a"), to: queue, options: options)
            }
            #expect(try await fixture.redis("EXISTS", keys.dedupKey("order-7")) == .integer(0))
            try await fixture.redis("DEL", keys.stream)
            let pushed = try await fixture.producer.push(Greeting(name: "a"), to: queue, options: options)
            #expect(!pushed.isDuplicate)
            #expect(try await fixture.redis("XLEN", keys.stream) == .integer(1))
        }
    }

    @Test("an envelope's own key deduplicates a single push as it does a batch; PushOptions.dedupKey wins and is the key stored")
    func envelopeKeyOnASinglePush() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("keyed")
            let keys = QueueKeys(queue: queue)
            let first = try await fixture.producer.push(try JobEnvelope.make(Greeting(name: "a"), key: "k1"), to: queue)
            let second = try await fixture.producer.push(try JobEnvelope.make(Greeting(name: "b"), key: "k1"), to: queue)
            #expect(!first.isDuplicate && second.isDuplicate && second.id == first.id)
            // the options' key is the one used, and the one the stored job carries
            let third = try await fixture.producer.push(
                try JobEnvelope.make(Greeting(name: "c"), key: "k1"), to: queue, options: PushOptions(dedupKey: "k2")
            )
            #expect(!third.isDuplicate)
            #expect(try await fixture.redis("XLEN", keys.stream) == .integer(2))
            let last = try await fixture.redis("XREVRANGE", keys.stream, "+", "-", "COUNT", "1")
            let fields = last.array?.first?.array?[1].array?.compactMap(\.string) ?? []
            let keyField = fields.firstIndex(of: "key").map { fields[$0 + 1] }
            #expect(keyField == "k2", "\(fields)")
            #expect(try await fixture.redis("EXISTS", keys.dedupKey("k2")) == .integer(1))
        }
    }

    @Test("a dedup marker another client set to something other than a job id: a clear error naming the key, nothing pushed")
    func foreignDedupMarker() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("foreign")
            let keys = QueueKeys(queue: queue)
            try await fixture.redis("SET", keys.dedupKey("py1"), "hello", "EX", "100")
            for single in [true, false] {
                let error = await #expect(throws: SpoolError.self) {
                    if single {
                        try await fixture.producer.push(Greeting(name: "a"), to: queue, options: PushOptions(dedupKey: "py1"))
                    } else {
                        try await fixture.producer.push([try JobEnvelope.make(Greeting(name: "a"), key: "py1")], to: queue)
                    }
                }
                let message = error?.message ?? ""
                #expect(message.contains("the dedup marker \"\(keys.dedupKey("py1"))\" holds \"hello\", not a job id"), "\(message)")
                #expect(single || message.hasPrefix("push to queue foreign stored 0 of 1 jobs"), "\(message)")
                #expect(!message.contains("\n"))
            }
            #expect(try await fixture.redis("XLEN", keys.stream) == .integer(0))
        }
    }

    @Test("a batch whose jobs fail in part reports which were stored, so that only the others are pushed again")
    func partialBatch() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("partial")
            let keys = QueueKeys(queue: queue)
            // the second job's dedup marker holds what another client set: that job alone fails
            try await fixture.redis("SET", keys.dedupKey("taken"), "hello", "EX", "100")
            let envelopes = [
                try JobEnvelope.make(Greeting(name: "a")), try JobEnvelope.make(Greeting(name: "b"), key: "taken"),
                try JobEnvelope.make(Greeting(name: "c")),
            ]
            let error = await #expect(throws: SpoolError.self) { try await fixture.producer.push(envelopes, to: queue) }
            let partial = try #require(error?.underlying as? PartialPush, "\(String(describing: error))")
            #expect(partial.results.map { $0?.id } == [envelopes[0].id, nil, envelopes[2].id])
            #expect(partial.errors.keys.sorted() == [1])
            #expect(partial.errors[1]?.message.contains("the dedup marker") == true)
            let message = error?.message ?? ""
            #expect(message.hasPrefix("push to queue partial stored 2 of 3 jobs; 1 failed (jobs 1, counted from 0"), "\(message)")
            #expect(!message.contains("\n"))
            // what the error says was stored is what the stream holds
            #expect(try await fixture.storedJobIDs(queue) == [envelopes[0].id, envelopes[2].id])
        }
    }

    /// Was code `redis`, as if Redis had failed: the documented `shutdown` code was never thrown.
    @Test("a push after the client's shutdown() fails with code shutdown")
    func pushAfterShutdown() async throws {
        try await withRedisServer { server in
            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            let producer = SpoolProducer(client: client, logger: Logger(label: "test"))
            _ = try await producer.push(Greeting(name: "before"), to: try QueueName("closing"))
            client.shutdown()
            let error = await #expect(throws: SpoolError.self) {
                try await producer.push(Greeting(name: "after"), to: try QueueName("closing"))
            }
            #expect(error?.code == .shutdown, "\(String(describing: error))")
            #expect((error?.underlying as? RedisError)?.code == .shutdown)
        }
    }

    @Test("a queue Redis refuses to register (the registry key of another type) gets no job: each push fails before storing")
    func refusedRegistration() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("unlisted")
            try await fixture.redis("SET", "spool:queues", "not a set")
            for _ in 0..<2 {
                let error = await #expect(throws: SpoolError.self) { try await fixture.producer.push(Greeting(name: "a"), to: queue) }
                let message = error?.message ?? ""
                #expect(message.hasPrefix("registering queue unlisted in spool:queues before its first push (nothing was pushed) failed"), "\(message)")
                #expect(message.contains("WRONGTYPE"), "\(message)")
                await #expect(throws: SpoolError.self) { try await fixture.producer.push([Greeting(name: "b")], to: queue) }
            }
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).stream) == .integer(0), "no job stored")
            // once the key is fixed, the next push registers the queue and goes through
            try await fixture.redis("DEL", "spool:queues")
            try await fixture.producer.push(Greeting(name: "c"), to: queue)
            #expect(try await fixture.redis("SISMEMBER", "spool:queues", "unlisted") == .integer(1))
        }
    }

    @Test("oversize payloads and bad queue names are refused before anything is sent")
    func validation() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("big")
            await #expect {
                try await fixture.producer.push(payload: Array(repeating: 1, count: 512 * 1024 + 1), type: "x", to: queue)
            } throws: { error in
                let error = error as! SpoolError
                return error.code == .payloadTooLarge && error.message.contains("524289 bytes")
            }
            // a typed batch: the first job fits, the second does not, and neither is sent
            await #expect {
                try await fixture.producer.push([Greeting(name: "a"), Greeting(name: String(repeating: "x", count: 512 * 1024))], to: queue)
            } throws: { error in
                (error as! SpoolError).code == .payloadTooLarge
            }
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).stream) == .integer(0))
            #expect(throws: SpoolError.self) { try QueueName("bad name!") }
        }
    }

    @Test("a Redis failure surfaces as a SpoolError with the redacted address")
    func redisFailure() async throws {
        try await QueueFixture.with { fixture in
            try await fixture.server.stop()
            await #expect {
                try await fixture.producer.push(Greeting(name: "x"), to: QueueName("q"))
            } throws: { error in
                let error = error as! SpoolError
                return error.code == .redis && error.message.contains(fixture.server.url)
            }
        }
    }
}

@Suite("Producer: arguments refused before anything is sent")
struct ProducerArgumentTests {
    /// Nothing reached Redis for `queue`: no stream, and the queue is not registered.
    static func expectNothingSent(_ fixture: QueueFixture, _ queue: QueueName, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).stream) == .integer(0), sourceLocation: sourceLocation)
        #expect(try await fixture.redis("SISMEMBER", "spool:queues", queue.rawValue) == .integer(0), sourceLocation: sourceLocation)
    }

    @Test("PushOptions.dedupKey on a batch push (typed or envelopes) is refused: one key cannot name every job")
    func batchDedupKey() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("batch.dedup")
            let options = PushOptions(dedupKey: "order-42")
            let typed = await #expect(throws: SpoolError.self) {
                try await fixture.producer.push([Greeting(name: "a"), Greeting(name: "b")], to: queue, options: options)
            }
            let envelopes = await #expect(throws: SpoolError.self) {
                try await fixture.producer.push(
                    [try JobEnvelope.make(Greeting(name: "a"), key: "a"), try JobEnvelope.make(Greeting(name: "b"))],
                    to: queue, options: options
                )
            }
            for error in [typed, envelopes] {
                #expect(error?.code == .invalidArgument, "\(String(describing: error))")
                let message = error?.message ?? ""
                #expect(message.contains("JobEnvelope.make(_:key:)") && !message.contains("\n"), "\(message)")
            }
            try await Self.expectNothingSent(fixture, queue)
            // each envelope's own key still works
            let keyed = try await fixture.producer.push(
                [try JobEnvelope.make(Greeting(name: "a"), key: "k1"), try JobEnvelope.make(Greeting(name: "b"), key: "k1")], to: queue
            )
            #expect(keyed.map(\.isDuplicate) == [false, true])
        }
    }

    /// They were dropped on an envelope push: the job ran with the envelope's attempts.
    @Test("an envelope push takes maxAttempts, headers and traceparent from the options where they are set")
    func optionsApplyToEnvelopes() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("applied")
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let options = PushOptions(maxAttempts: 3, headers: ["tenant": "b"], traceparent: traceparent)
            let own = try JobEnvelope.make(Greeting(name: "a"), maxAttempts: 9, headers: ["tenant": "a", "keep": "1"])
            try await fixture.producer.push(own, to: queue, options: options)
            try await fixture.producer.push([try JobEnvelope.make(Greeting(name: "b"))], to: queue, options: options)
            let entries = try await fixture.redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+").array ?? []
            #expect(entries.count == 2)
            for (index, entry) in entries.enumerated() {
                let fields = entry.array?.last?.array?.compactMap(\.string) ?? []
                func value(_ name: String) -> String? { fields.firstIndex(of: name).map { fields[$0 + 1] } }
                #expect(value("max_attempts") == "3", "\(fields)")
                #expect(value("h:tenant") == "b", "\(fields)")
                #expect(value("traceparent") == traceparent, "\(fields)")
                if index == 0 { #expect(value("h:keep") == "1", "\(fields)") }
            }
        }
    }

    @Test("maxAttempts below 1 is refused on every push path, before anything is sent")
    func maxAttemptsBelowOne() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("attempts")
            let producer = fixture.producer
            let zero = PushOptions(maxAttempts: 0)
            let paths: [(String, () async throws -> Void)] = [
                ("typed", { try await producer.push(Greeting(name: "a"), to: queue, options: zero) }),
                ("typed, negative, delayed", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(delay: .seconds(5), maxAttempts: -1))
                }),
                ("typed, dedup key", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(maxAttempts: 0, dedupKey: "k"))
                }),
                ("payload", { try await producer.push(payload: Array("{}".utf8), type: "greeting", to: queue, options: zero) }),
                ("envelope", { try await producer.push(JobEnvelope(type: "greeting", payload: [], maxAttempts: 0), to: queue) }),
                // (the options' maxAttempts was dropped on envelope pushes)
                ("envelope, options", { try await producer.push(JobEnvelope(type: "greeting", payload: []), to: queue, options: zero) }),
                ("envelope batch, options", {
                    try await producer.push([try JobEnvelope.make(Greeting(name: "a"))], to: queue, options: zero)
                }),
                ("typed batch", { try await producer.push([Greeting(name: "a"), Greeting(name: "b")], to: queue, options: zero) }),
                ("envelope batch", {
                    try await producer.push(
                        [try JobEnvelope.make(Greeting(name: "a")), JobEnvelope(type: "greeting", payload: [], maxAttempts: -3)], to: queue
                    )
                }),
            ]
            for (path, push) in paths {
                let error = await #expect(throws: SpoolError.self, "\(path)") { try await push() }
                #expect(error?.code == .invalidArgument, "\(path): \(String(describing: error))")
                let message = error?.message ?? ""
                #expect(message.contains("at least 1") && !message.contains("\n"), "\(path): \(message)")
            }
            try await Self.expectNothingSent(fixture, queue)
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).delayed) == .integer(0))
        }
    }

    @Test("a job a worker would dead-letter as malformed is refused: an empty type, more fields than a worker reads, a bad attempt, version or enqueue time")
    func malformedJobs() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("malformed")
            let producer = fixture.producer
            let headers = Dictionary(uniqueKeysWithValues: (0..<1000).map { ("h\($0)", "v") })
            let paths: [(String, String, () async throws -> Void)] = [
                ("payload, empty type", "empty type", { try await producer.push(payload: Array("{}".utf8), type: "", to: queue) }),
                ("envelope batch, empty type", "empty type", {
                    try await producer.push([try JobEnvelope.make(Greeting(name: "a")), JobEnvelope(type: "", payload: [])], to: queue)
                }),
                ("typed, 1000 headers", "1006 fields (1000 of them headers, 2 for trace context a tracer may add)", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(headers: headers))
                }),
                // a worker reads 1000 fields, a retry adds up to 4, a tracer 2: 997 made the first retry unreadable
                ("typed, 991 headers", "997 fields (991 of them headers, 2 for trace context a tracer may add), over the 996 a job may have", {
                    let many = Dictionary(uniqueKeysWithValues: (0..<991).map { ("h\($0)", "v") })
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(headers: many))
                }),
                ("payload, type with a line feed", #"the type "a\x0Ab" of job"#, {
                    try await producer.push(payload: Array("{}".utf8), type: "a\nb", to: queue)
                }),
                ("envelope, empty key", "empty dedup key", {
                    try await producer.push(try JobEnvelope.make(Greeting(name: "a"), key: ""), to: queue)
                }),
                // a typed batch makes and checks each job on a path of its own (no tracer)
                ("typed batch, 1000 headers", "1006 fields (1000 of them headers, 2 for trace context a tracer may add)", {
                    try await producer.push([Greeting(name: "a"), Greeting(name: "b")], to: queue, options: PushOptions(headers: headers))
                }),
                ("typed batch, header named with a line feed", #"a header named "x\x0Ay""#, {
                    try await producer.push([Greeting(name: "a")], to: queue, options: PushOptions(headers: ["x\ny": "v"]))
                }),
                ("typed, header named with a line feed", #"a header named "x\x0Ay""#, {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(headers: ["x\ny": "v"]))
                }),
                // a 5 MB header went through a 100-byte payload limit
                ("typed, a 70 KB header", "bytes of type, dedup key and headers, over the 65536 allowed", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(headers: ["big": String(repeating: "x", count: 70_000)]))
                }),
                ("envelope batch, empty header name", #"a header named """#, {
                    try await producer.push([try JobEnvelope.make(Greeting(name: "a"), headers: ["": "v"])], to: queue)
                }),
                ("typed, dedup key, 1000 headers", "fields", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(dedupKey: "k", headers: headers))
                }),
                ("typed, delayed, 1000 headers", "fields", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(delay: .seconds(5), headers: headers))
                }),
                // fields the decoder refuses (a version 2 was blamed on the worker: "upgrade the worker")
                ("envelope, attempt 0", "attempt is 0", {
                    var envelope = try JobEnvelope.make(Greeting(name: "a"))
                    envelope.attempt = 0
                    try await producer.push(envelope, to: queue)
                }),
                ("envelope, version 2", "envelope version 2", {
                    var envelope = try JobEnvelope.make(Greeting(name: "a"))
                    envelope.version = 2
                    try await producer.push(envelope, to: queue)
                }),
                ("envelope batch, enqueuedAt -1", "enqueuedAt is -1", {
                    var envelope = try JobEnvelope.make(Greeting(name: "a"))
                    envelope.enqueuedAt = -1
                    try await producer.push([envelope], to: queue)
                }),
            ]
            for (path, expected, push) in paths {
                let error = await #expect(throws: SpoolError.self, "\(path)") { try await push() }
                #expect(error?.code == .invalidArgument, "\(path): \(String(describing: error))")
                let message = error?.message ?? ""
                #expect(message.contains(expected) && message.contains("nothing was pushed") && !message.contains("\n"), "\(path): \(message)")
            }
            try await Self.expectNothingSent(fixture, queue)
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).delayed) == .integer(0))
            // 990 headers fit: 994 fields, 996 with trace context
            let fits = Dictionary(uniqueKeysWithValues: (0..<990).map { ("h\($0)", "v") })
            try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(headers: fits))
        }
    }

    @Test("a traceparent that is not W3C trace context is refused on every push path, before anything is sent")
    func invalidTraceparent() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("traces")
            let producer = fixture.producer
            for traceparent in TracingTests.invalidTraceparents {
                let options = PushOptions(traceparent: traceparent)
                let paths: [(String, () async throws -> Void)] = [
                    ("typed", { try await producer.push(Greeting(name: "a"), to: queue, options: options) }),
                    ("typed, delayed", {
                        try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(delay: .seconds(5), traceparent: traceparent))
                    }),
                    ("payload", { try await producer.push(payload: Array("{}".utf8), type: "greeting", to: queue, options: options) }),
                    ("envelope", { try await producer.push(JobEnvelope(type: "greeting", payload: [], traceparent: traceparent), to: queue) }),
                    ("typed batch", { try await producer.push([Greeting(name: "a"), Greeting(name: "b")], to: queue, options: options) }),
                    ("envelope batch", {
                        try await producer.push(
                            [try JobEnvelope.make(Greeting(name: "a")), JobEnvelope(type: "greeting", payload: [], traceparent: traceparent)],
                            to: queue
                        )
                    }),
                ]
                for (path, push) in paths {
                    let error = await #expect(throws: SpoolError.self, "\(path), \(traceparent)") { try await push() }
                    #expect(error?.code == .invalidArgument, "\(path), \(traceparent): \(String(describing: error))")
                    let message = error?.message ?? ""
                    #expect(message.contains("W3C trace context") && message.contains("nothing was pushed") && !message.contains("\n"),
                            "\(path): \(message)")
                }
            }
            try await Self.expectNothingSent(fixture, queue)
            #expect(try await fixture.redis("EXISTS", QueueKeys(queue: queue).delayed) == .integer(0))
            // a valid one is stored as given, and so is a later version's, which may add fields
            let valid = TracingTests.remoteParent
            let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"
            #expect(JobEnvelope.isValidTraceparent(valid) && JobEnvelope.isValidTraceparent(later))
            try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(traceparent: valid))
            try await producer.push(Greeting(name: "b"), to: queue, options: PushOptions(traceparent: later))
            let entries = try await fixture.redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+").array ?? []
            let stored = entries.compactMap { entry -> String? in
                let fields = entry.array?.last?.array?.compactMap(\.string) ?? []
                return fields.firstIndex(of: "traceparent").map { fields[$0 + 1] }
            }
            #expect(stored == [valid, later])
        }
    }

    @Test("a tracestate that is not W3C trace context, or one without a traceparent, is refused before anything is sent; a valid one is stored")
    func invalidTracestate() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("tracestates")
            let producer = fixture.producer
            let traceparent = TracingTests.remoteParent
            let cases: [(traceparent: String?, tracestate: String, says: String)] = [
                (traceparent, "Rojo=1", "is not W3C trace context"),
                (traceparent, "rojo=1,rojo=2", "is not W3C trace context"),
                (nil, "rojo=1", "but no traceparent"),
            ]
            for (traceparent, tracestate, says) in cases {
                let options = PushOptions(traceparent: traceparent, tracestate: tracestate)
                let envelope = JobEnvelope(type: "greeting", payload: [], traceparent: traceparent, tracestate: tracestate)
                let paths: [(String, () async throws -> Void)] = [
                    ("typed", { try await producer.push(Greeting(name: "a"), to: queue, options: options) }),
                    ("payload", { try await producer.push(payload: Array("{}".utf8), type: "greeting", to: queue, options: options) }),
                    ("envelope", { try await producer.push(envelope, to: queue) }),
                    ("typed batch", { try await producer.push([Greeting(name: "a")], to: queue, options: options) }),
                    ("envelope batch", { try await producer.push([try JobEnvelope.make(Greeting(name: "a")), envelope], to: queue) }),
                ]
                for (path, push) in paths {
                    let error = await #expect(throws: SpoolError.self, "\(path), \(tracestate)") { try await push() }
                    #expect(error?.code == .invalidArgument, "\(path): \(String(describing: error))")
                    let message = error?.message ?? ""
                    #expect(message.contains(says) && message.contains("nothing was pushed") && !message.contains("\n"), "\(path): \(message)")
                }
            }
            try await Self.expectNothingSent(fixture, queue)
            let valid = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
            try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(traceparent: traceparent, tracestate: valid))
            let entries = try await fixture.redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+").array ?? []
            let fields = entries.first?.array?.last?.array?.compactMap(\.string) ?? []
            #expect(fields.firstIndex(of: "tracestate").map { fields[$0 + 1] } == valid, "\(fields)")
        }
    }

    @Test("a delay, runAt or dedup window out of range is refused (over 100 years, runAt in seconds or negative, a window under 1 ms), and an empty dedup key or a producer payload limit of 0")
    func timesOutOfRange() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("forever")
            let producer = fixture.producer
            let paths: [(String, String, () async throws -> Void)] = [
                ("delay", "PushOptions.delay", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(delay: .seconds(Int64.max)))
                }),
                ("batch delay", "PushOptions.delay", {
                    try await producer.push([Greeting(name: "a")], to: queue, options: PushOptions(delay: .seconds(200 * 365 * 86_400)))
                }),
                // checked before any job's command is made: adding it to the clock overflowed
                ("batch delay, Int64.max seconds", "PushOptions.delay", {
                    try await producer.push([Greeting(name: "a")], to: queue, options: PushOptions(delay: .seconds(Int64.max)))
                }),
                ("envelope batch delay, Int64.max seconds", "PushOptions.delay", {
                    try await producer.push([try JobEnvelope.make(Greeting(name: "a"))], to: queue, options: PushOptions(delay: .seconds(Int64.max)))
                }),
                ("window", "PushOptions.dedupWindow", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(dedupKey: "k", dedupWindow: .seconds(Int64.max)))
                }),
                ("zero window", "PushOptions.dedupWindow", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(dedupKey: "k", dedupWindow: .zero))
                }),
                // a Unix time in seconds ran at once (read as 1970); one in microseconds waited for ever
                ("runAt in seconds", "PushOptions.runAt is 1732900000: that is in 1970", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(runAt: 1_732_900_000))
                }),
                ("runAt in microseconds", "PushOptions.runAt is 1732900000000000: more than 100 years from now", {
                    try await producer.push([Greeting(name: "a")], to: queue, options: PushOptions(runAt: 1_732_900_000_000_000))
                }),
                ("negative runAt", "PushOptions.runAt is -1: Unix milliseconds, 0 or more", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(runAt: -1))
                }),
                ("empty dedup key", "PushOptions.dedupKey is empty", {
                    try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(dedupKey: ""))
                }),
                ("producer payload limit 0", "SpoolProducer.Configuration.maxPayloadBytes (0) must be", {
                    let zero = SpoolProducer(client: fixture.client, configuration: .init(maxPayloadBytes: 0), logger: fixture.logger)
                    try await zero.push(Greeting(name: "a"), to: queue)
                }),
                ("batch window", "PushOptions.dedupWindow", {
                    try await producer.push(
                        [try JobEnvelope.make(Greeting(name: "a"), key: "k")], to: queue, options: PushOptions(dedupWindow: .seconds(-1))
                    )
                }),
            ]
            for (path, expected, push) in paths {
                let error = await #expect(throws: SpoolError.self, "\(path)") { try await push() }
                #expect(error?.code == .invalidArgument, "\(path): \(String(describing: error))")
                let message = error?.message ?? ""
                #expect(message.hasPrefix(expected) && message.contains("nothing was pushed") && !message.contains("\n"), "\(path): \(message)")
            }
            try await Self.expectNothingSent(fixture, queue)
            // 100 years is accepted, and the marker lives that long
            let century = Duration.seconds(100 * 365 * 86_400)
            try await producer.push(Greeting(name: "a"), to: queue, options: PushOptions(delay: century, dedupKey: "k", dedupWindow: century))
            let ttl = try #require(try await fixture.redis("PTTL", QueueKeys(queue: queue).dedupKey("k")).int)
            #expect(ttl > 99 * 365 * 86_400_000)
        }
    }
}
