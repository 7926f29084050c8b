import Instrumentation
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing
import Tracing

@Suite("Tracing")
struct TracingTests {
    struct Traced: JobParameters {
        static let jobName = "traced"
        let n: Int
    }

    /// A valid `traceparent` (W3C Trace Context's example): a remote parent given with a push.
    static let remoteParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    /// Pushes jobs with `producer` and runs them on a worker with `tracer`; returns each
    /// handler's `JobContext.traceparent` by job number.
    static func run(
        _ fixture: QueueFixture, producer: SpoolProducer, tracer: any Tracer, queue: QueueName,
        push: () async throws -> Void, count: Int
    ) async throws -> [Int: String?] {
        try await contexts(fixture, tracer: tracer, queue: queue, count: count, push: push).mapValues(\.traceparent)
    }

    @Test("the handler span is the child of the enqueue span, and the handler sees its own traceparent")
    func propagates() async throws {
        try await QueueFixture.with { fixture in
            let tracer = TestTracer()
            let queue = try QueueName("traced")
            let producer = SpoolProducer(client: fixture.client, logger: fixture.logger, tracer: tracer)
            let explicit = Self.remoteParent
            let seen = try await Self.run(fixture, producer: producer, tracer: tracer, queue: queue, push: {
                try await producer.push(Traced(n: 1), to: queue)
                try await producer.push(Traced(n: 2), to: queue, options: PushOptions(traceparent: explicit))
            }, count: 2)

            let spans = tracer.spans
            let pushes = spans.filter { $0.operationName == "spool.push traced" }
            let processes = spans.filter { $0.operationName == "process traced" }
            #expect(pushes.count == 1, "an explicit traceparent is kept: no producer span for it")
            #expect(processes.count == 2)
            let push = try #require(pushes.first)
            #expect(push.kind == .producer)

            // job 1: parent = the producer span, same trace; the handler got the handler span's context
            let handler1 = try #require(processes.first { $0.identity.parentSpanID == push.identity.spanID })
            #expect(handler1.kind == .consumer)
            #expect(handler1.identity.traceID == push.identity.traceID)
            #expect(seen[1] == "00-\(handler1.identity.traceID)-\(handler1.identity.spanID)-01")

            // job 2: the explicit traceparent is the remote parent
            let handler2 = try #require(processes.first { $0.identity.parentSpanID == "00f067aa0ba902b7" })
            #expect(handler2.identity.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(seen[2] == "00-\(handler2.identity.traceID)-\(handler2.identity.spanID)-01")
        }
    }

    /// The values of the fields `names` each entry of `queue`'s stream has, entry by entry (read
    /// before a worker's trimmer may remove finished entries).
    static func stored(_ names: [String], _ fixture: QueueFixture, queue: QueueName) async throws -> [[String]] {
        let entries = try await fixture.redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+").array ?? []
        return entries.map { entry in
            let fields = entry.array?.last?.array?.compactMap(\.string) ?? []
            return names.compactMap { name in fields.firstIndex(of: name).map { fields[$0 + 1] } }
        }
    }

    /// Adds a job of type `traced` to `queue`'s stream as another producer could write it:
    /// with `traceparent` (and `tracestate`) as it is (Spool's producers refuse an invalid one).
    static func addRaw(_ fixture: QueueFixture, queue: QueueName, n: Int, traceparent: String, tracestate: String? = nil) async throws {
        let envelope = try JobEnvelope.make(Traced(n: n))
        var command = [
            "XADD", QueueKeys(queue: queue).stream, "*", "v", "1", "id", "\(envelope.id)", "type", "traced",
            "payload", String(decoding: envelope.payload, as: UTF8.self), "traceparent", traceparent,
        ]
        if let tracestate { command += ["tracestate", tracestate] }
        _ = try await fixture.client.send(RedisCommand(command[0], Array(command.dropFirst())))
    }

    static let invalidTraceparents = [
        "zz-NOT-A-TRACE",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // trace id all zeros
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // parent id all zeros
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // version 00 is 55 characters
    ]

    @Test("a stored traceparent that is not W3C trace context is treated as absent: no parent span, none for the handler")
    func invalidStoredTraceparent() async throws {
        try await QueueFixture.with { fixture in
            let count = Self.invalidTraceparents.count
            // with a tracer: each handler span starts a trace of its own, named after the queue
            let tracer = TestTracer()
            let queue = try QueueName("traced-raw")
            let seen = try await Self.run(fixture, producer: fixture.producer, tracer: tracer, queue: queue, push: {
                for (n, traceparent) in Self.invalidTraceparents.enumerated() {
                    try await Self.addRaw(fixture, queue: queue, n: n, traceparent: traceparent)
                }
            }, count: count)
            let processes = tracer.spans.filter { $0.kind == .consumer }
            #expect(processes.count == count)
            for span in processes {
                #expect(span.operationName == "process traced-raw")
                #expect(span.attributes.get("spool.job.type") == .string("traced"))
                #expect(span.identity.parentSpanID == nil, "a parent from an invalid traceparent: \(span.identity)")
            }
            for n in 0..<count {
                let own = try #require(seen[n] ?? nil, "job \(n)")
                #expect(!Self.invalidTraceparents.contains(own) && own.hasPrefix("00-"), "job \(n): \(own)")
            }

            // without a tracer the handler gets none
            let untraced = try QueueName("untraced-raw")
            let passed = try await Self.run(fixture, producer: fixture.producer, tracer: InstrumentationSystem.tracer, queue: untraced, push: {
                for (n, traceparent) in Self.invalidTraceparents.enumerated() {
                    try await Self.addRaw(fixture, queue: untraced, n: n, traceparent: traceparent)
                }
            }, count: count)
            for n in 0..<count {
                #expect(passed[n] == .some(nil), "job \(n) got \(String(describing: passed[n]))")
            }
        }
    }

    /// Runs the jobs `push` adds on a worker with `tracer`; returns each handler's context by job number.
    static func contexts(
        _ fixture: QueueFixture, tracer: any Tracer, queue: QueueName, count: Int, push: () async throws -> Void
    ) async throws -> [Int: JobContext] {
        let seen = Mutex<[Int: JobContext]>([:])
        var worker = SpoolWorker(
            client: fixture.client, configuration: fixture.workerConfiguration(), logger: fixture.logger, tracer: tracer
        )
        worker.subscribe(queue: queue, options: .init(startFromBeginning: true))
        worker.register(Traced.self, queue: queue) { job, context in
            seen.withLock { $0[job.n] = context }
        }
        try await running(worker) {
            try await push()
            try await waitUntil("every job ran") { seen.withLock { $0.count } == count }
        }
        return seen.withLock { $0 }
    }

    @Test("a tracestate travels with its traceparent: stored by the push, given to the tracer and the handler; an invalid one is absent")
    func tracestate() async throws {
        try await QueueFixture.with { fixture in
            let tracer = TestTracer()
            let queue = try QueueName("traced-state")
            let producer = SpoolProducer(client: fixture.client, logger: fixture.logger, tracer: tracer)
            let traceparent = Self.remoteParent
            let given = PushOptions(traceparent: traceparent, tracestate: "rojo=00f067aa0ba902b7")
            var stored: [[String]] = []
            let seen = try await Self.contexts(fixture, tracer: tracer, queue: queue, count: 3) {
                try await producer.push(Traced(n: 1), to: queue)
                try await producer.push(Traced(n: 2), to: queue, options: given)
                try await Self.addRaw(fixture, queue: queue, n: 3, traceparent: traceparent, tracestate: "Rojo=1")
                stored = try await Self.stored(["tracestate"], fixture, queue: queue)
            }
            let push = try #require(tracer.spans.first { $0.kind == .producer })
            let processes = tracer.spans.filter { $0.kind == .consumer }
            func handlerSpan(_ n: Int) throws -> TestTracer.SpanIdentity {
                let traceparent = try #require(seen[n]?.traceparent, "job \(n)")
                return try #require(processes.first { traceparent.contains($0.identity.spanID) }, "job \(n)").identity
            }
            // job 1: the producer span's tracestate is stored; the handler gets its own span's
            #expect(stored == [["test=\(push.identity.spanID)"], ["rojo=00f067aa0ba902b7"], ["Rojo=1"]])
            #expect(seen[1]?.tracestate == "test=\(try handlerSpan(1).spanID)")
            // job 2: the given tracestate reached the tracer, which kept its members after its own
            #expect(seen[2]?.tracestate == "test=\(try handlerSpan(2).spanID),rojo=00f067aa0ba902b7")
            // job 3: an invalid stored tracestate is absent: the tracer got none to continue
            #expect(seen[3]?.tracestate == "test=\(try handlerSpan(3).spanID)")

            // without a tracer the handler gets the stored one as it is, or none when it is invalid
            // or comes with an invalid traceparent
            let untraced = try QueueName("untraced-state")
            let passed = try await Self.contexts(fixture, tracer: InstrumentationSystem.tracer, queue: untraced, count: 3) {
                try await fixture.producer.push(Traced(n: 1), to: untraced, options: given)
                try await Self.addRaw(fixture, queue: untraced, n: 2, traceparent: traceparent, tracestate: "Rojo=1")
                try await Self.addRaw(fixture, queue: untraced, n: 3, traceparent: "zz-NOT-A-TRACE", tracestate: "rojo=1")
            }
            #expect(passed[1]?.traceparent == traceparent && passed[1]?.tracestate == "rojo=00f067aa0ba902b7")
            #expect(passed[2]?.traceparent == traceparent && passed[2]?.tracestate == nil)
            #expect(passed[3]?.traceparent == nil && passed[3]?.tracestate == nil)
        }
    }

    @Test("a traced batch of jobs with and without their own trace context: each with its own keeps it, the others get the span's")
    func mixedBatch() async throws {
        try await QueueFixture.with { fixture in
            let tracer = TestTracer()
            let queue = try QueueName("traced-mixed")
            let producer = SpoolProducer(client: fixture.client, logger: fixture.logger, tracer: tracer)
            let own = Self.remoteParent
            var stored: [[String]] = []
            _ = try await Self.contexts(fixture, tracer: tracer, queue: queue, count: 2) {
                try await producer.push([
                    try JobEnvelope.make(Traced(n: 1)),
                    try JobEnvelope.make(Traced(n: 2), traceparent: own, tracestate: "rojo=1"),
                ], to: queue)
                stored = try await Self.stored(["traceparent", "tracestate"], fixture, queue: queue)
            }
            let push = try #require(tracer.spans.first { $0.kind == .producer })
            #expect(stored == [
                ["00-\(push.identity.traceID)-\(push.identity.spanID)-01", "test=\(push.identity.spanID)"],
                [own, "rojo=1"],
            ])
        }
    }

    @Test("a retried job keeps its traceparent and tracestate: the next attempt's handler gets the same")
    func retryKeepsTraceContext() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("traced-retry")
            let traceparent = Self.remoteParent
            let seen = Mutex<[Int: (String?, String?)]>([:])
            var worker = SpoolWorker(client: fixture.client, configuration: fixture.workerConfiguration(), logger: fixture.logger)
            worker.subscribe(queue: queue, options: .init(startFromBeginning: true))
            worker.register(Traced.self, queue: queue, retry: .fixed(maxAttempts: 2, delay: .milliseconds(1))) { _, context in
                seen.withLock { $0[context.attempt] = (context.traceparent, context.tracestate) }
                if context.attempt == 1 { throw SpoolError(code: .invalidArgument, message: "fail the first attempt") }
            }
            try await running(worker) {
                try await fixture.producer.push(
                    Traced(n: 1), to: queue, options: PushOptions(traceparent: traceparent, tracestate: "rojo=00f067aa0ba902b7")
                )
                try await waitUntil("the second attempt ran") { seen.withLock { $0[2] != nil } }
            }
            for attempt in 1...2 {
                let context = try #require(seen.withLock { $0[attempt] }, "attempt \(attempt)")
                #expect(context.0 == traceparent && context.1 == "rojo=00f067aa0ba902b7", "attempt \(attempt): \(context)")
            }
        }
    }

    @Test("a batch push stamps every job with the batch's producer span")
    func batch() async throws {
        try await QueueFixture.with { fixture in
            let tracer = TestTracer()
            let queue = try QueueName("traced-batch")
            let producer = SpoolProducer(client: fixture.client, logger: fixture.logger, tracer: tracer)
            _ = try await Self.run(fixture, producer: producer, tracer: tracer, queue: queue, push: {
                try await producer.push([Traced(n: 1), Traced(n: 2), Traced(n: 3)], to: queue)
            }, count: 3)
            let push = try #require(tracer.spans.first { $0.kind == .producer })
            let children = tracer.spans.filter { $0.kind == .consumer && $0.identity.parentSpanID == push.identity.spanID }
            #expect(children.count == 3)
        }
    }

    @Test("with the default no-op tracer no traceparent is added")
    func noOpTracer() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("untraced")
            // the fixture's producer and a worker with the default tracer (nothing bootstrapped)
            var fields: [String] = []
            let seen = try await Self.run(fixture, producer: fixture.producer, tracer: InstrumentationSystem.tracer, queue: queue, push: {
                try await fixture.producer.push(Traced(n: 1), to: queue)
                // read before the trimmer may remove the finished entry
                let entries = try await fixture.redis("XRANGE", QueueKeys(queue: queue).stream, "-", "+")
                fields = entries.array?.first?.array?.last?.array?.compactMap(\.string) ?? []
            }, count: 1)
            #expect(seen[1] == .some(nil))
            #expect(fields.contains("type"), "\(fields)")
            #expect(!fields.contains("traceparent") && !fields.contains("tp"), "\(fields)")
        }
    }
}
