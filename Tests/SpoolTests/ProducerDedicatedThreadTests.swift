import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `SpoolProducer.withDedicatedThread`: pushes on a thread of their own.
@Suite("Producer: on a thread of its own")
struct ProducerDedicatedThreadTests {
    /// The calling thread's name, as `prctl(PR_SET_NAME)` set it (from `/proc/thread-self/comm`).
    static func currentThreadName() -> String {
        let descriptor = open("/proc/thread-self/comm", O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var name = [UInt8](repeating: 0, count: 32)
        let count = read(descriptor, &name, name.count)
        guard count > 0 else { return "" }
        return String(decoding: name.prefix(count).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    static func clientCount(_ fixture: QueueFixture) async throws -> Int {
        (try await fixture.redis("CLIENT", "LIST").string ?? "").split(separator: "\n").count
    }

    @Test("single and batch pushes are stored in order, each resuming on the thread spool-loop, over a connection closed on return")
    func pushesOnItsThread() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("own-thread-push")
            let before = try await Self.clientCount(fixture)
            let (pushed, threads, escaped) = try await SpoolProducer.withDedicatedThread(
                client: fixture.client, logger: fixture.logger
            ) { producer in
                var pushed: [JobID] = []
                var threads: Set<String> = [Self.currentThreadName()]
                pushed.append(try await producer.push(Greeting(name: "first"), to: queue).id)
                threads.insert(Self.currentThreadName())
                pushed += try await producer.push((0..<250).map { Greeting(name: "n\($0)") }, to: queue).map(\.id)
                threads.insert(Self.currentThreadName())
                // the producer's own connection, besides the fixture's
                #expect(try await Self.clientCount(fixture) == before + 1)
                return (pushed, threads, producer)
            }
            #expect(threads == ["spool-loop"])
            #expect(Self.currentThreadName() != "spool-loop")
            #expect(try await fixture.storedJobIDs(queue) == pushed)
            #expect(pushed.count == 251)

            try await waitUntil("the producer's connection is closed") { try await Self.clientCount(fixture) == before }
            // a producer kept past the call fails; the client it came from works on
            let error = await #expect(throws: SpoolError.self) { try await escaped.push(Greeting(name: "late"), to: queue) }
            #expect(error?.code == .shutdown)
            #expect(error?.message.contains("shut down") == true, "\(error.map { "\($0)" } ?? "")")
            _ = try await fixture.producer.push(Greeting(name: "after"), to: queue)
            #expect(try await fixture.storedJobIDs(queue).count == 252)
        }
    }

    struct BodyFailure: Error {}

    @Test("an error the body throws comes out as it is, and the producer's connection is closed")
    func bodyErrorPassesThrough() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("own-thread-error")
            let before = try await Self.clientCount(fixture)
            await #expect(throws: BodyFailure.self) {
                try await SpoolProducer.withDedicatedThread(client: fixture.client, logger: fixture.logger) { producer in
                    try await producer.push(Greeting(name: "stored"), to: queue)
                    throw BodyFailure()
                }
            }
            #expect(try await fixture.storedJobIDs(queue).count == 1)
            try await waitUntil("the producer's connection is closed") { try await Self.clientCount(fixture) == before }
        }
    }

    @Test("a busy poll out of range is refused before the body runs", arguments: [Duration.microseconds(-1), .milliseconds(11)])
    func busyPollOutOfRange(busyPoll: Duration) async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:1"))
        defer { client.shutdown() }
        var ran = false
        let error = await #expect(throws: SpoolError.self) {
            try await SpoolProducer.withDedicatedThread(client: client, busyPoll: busyPoll, logger: .init(label: "spool.test")) { _ in
                ran = true
            }
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("busyPoll") == true)
        #expect(!ran)
    }

    @Test("the busy poll's bounds are accepted: no poll, and 10 ms", arguments: [Duration.zero, .milliseconds(10)])
    func busyPollBounds(busyPoll: Duration) async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("own-thread-poll")
            let (id, thread) = try await SpoolProducer.withDedicatedThread(
                client: fixture.client, busyPoll: busyPoll, logger: fixture.logger
            ) { producer in
                (try await producer.push(Greeting(name: "polled"), to: queue).id, Self.currentThreadName())
            }
            #expect(thread == "spool-loop")
            #expect(try await fixture.storedJobIDs(queue) == [id])
        }
    }

    @Test("tasks the body starts with async let and in a task group push from the producer's thread")
    func childTasksRunThere() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("own-thread-children")
            let threads = try await SpoolProducer.withDedicatedThread(client: fixture.client, logger: fixture.logger) { producer in
                async let first: String = {
                    try await producer.push(Greeting(name: "async let"), to: queue)
                    return Self.currentThreadName()
                }()
                let grouped = try await withThrowingTaskGroup(of: String.self) { group in
                    for index in 0..<4 {
                        group.addTask {
                            try await producer.push(Greeting(name: "child \(index)"), to: queue)
                            return Self.currentThreadName()
                        }
                    }
                    return try await group.reduce(into: Set<String>()) { $0.insert($1) }
                }
                return grouped.union([try await first])
            }
            #expect(threads == ["spool-loop"])
            #expect(try await fixture.storedJobIDs(queue).count == 5)
        }
    }

    @Test("a client shut down while the body runs fails the producer's next push as shut down")
    func goesDownWithTheClient() async throws {
        try await QueueFixture.with { fixture in
            let queue = try QueueName("own-thread-client-down")
            let client = RedisClient(configuration: try RedisConfiguration(url: fixture.url))
            defer { client.shutdown() }
            let error = try await SpoolProducer.withDedicatedThread(client: client, logger: fixture.logger) { producer in
                try await producer.push(Greeting(name: "before"), to: queue)
                client.shutdown()
                return await #expect(throws: SpoolError.self) { try await producer.push(Greeting(name: "after"), to: queue) }
            }
            #expect(error?.code == .shutdown)
            #expect(try await fixture.storedJobIDs(queue).count == 1)
        }
    }

    @Test("on a Redis Cluster the body runs with a producer on the client, and its pushes are stored")
    func clusterRunsOnTheClient() async throws {
        try await QueueFixture.withCluster { fixture in
            let queue = try QueueName("own-thread-cluster")
            let (pushed, thread) = try await SpoolProducer.withDedicatedThread(client: fixture.client, logger: fixture.logger) { producer in
                let pushed = try await producer.push((0..<20).map { Greeting(name: "n\($0)") }, to: queue).map(\.id)
                return (pushed, Self.currentThreadName())
            }
            #expect(thread != "spool-loop")
            #expect(try await fixture.storedJobIDs(queue) == pushed)
        }
    }
}
