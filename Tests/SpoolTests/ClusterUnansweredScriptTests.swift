import Spool
import SpoolRedis
import SpoolTesting
import Testing

/// A worker's fetch or reclaim script whose reply is lost on a cluster: the node ran it, moving
/// entries to the worker's pending list, and closed the connection before the reply went out.
///
/// The node closes the connection itself: with `client-output-buffer-limit normal 64kb 0 0`
/// Redis runs a command, finds its reply over the limit and drops the client without writing
/// any of it. Eight jobs of 20 KB each make the script's reply 160 KB.
@Suite("Cluster: a worker's script whose reply was lost", .serialized)
struct ClusterUnansweredScriptTests {
    @Test("a fetch whose reply was lost: the worker runs its jobs at once, not after the visibility timeout")
    func lostFetch() async throws {
        try await runsEveryJob(queue: "lost.fetch") { _, _ in }
    }

    @Test("a reclaim whose reply was lost: the worker runs the claimed jobs at once, not after the visibility timeout")
    func lostReclaim() async throws {
        try await runsEveryJob(queue: "lost.reclaim") { fixture, keys in
            // delivered to a consumer that has no heartbeat: the worker's first reclaim takes them
            try await fixture.redis("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM")
            let read = try await fixture.redis("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "100", "STREAMS", keys.stream, ">")
            try #require(read.array?.first?.array?.last?.array?.count == Self.jobs)
        }
    }

    private static let jobs = 8

    /// Pushes the jobs, runs `prepare`, makes the queue's master drop clients whose reply is
    /// over 64 KB, then runs a worker (visibility timeout 10 minutes) and expects every job to
    /// run once within 30 seconds. The limit is lifted once the jobs are pending for the worker
    /// (or ran), so only the first script's reply is lost for sure.
    private func runsEveryJob(queue name: String, prepare: (QueueFixture, QueueKeys) async throws -> Void) async throws {
        try await QueueFixture.withCluster { fixture in
            let cluster = try #require(fixture.cluster)
            let queue = try QueueName(name)
            let keys = QueueKeys(queue: queue)
            let master = try await cluster.master(ofSlot: RedisHashSlot.of(keys.stream))
            let pushed = try await fixture.producer.push(
                (0..<Self.jobs).map { Greeting(name: "\($0) " + String(repeating: "x", count: 20_000)) }, to: queue
            )
            try await prepare(fixture, keys)
            func limit(_ value: String) async throws {
                let reply = try await cluster.command(master, ["CONFIG", "SET", "client-output-buffer-limit", value])
                try #require(reply.string == "OK", "\(reply)")
            }
            try await limit("normal 64kb 0 0")
            let recorder = Recorder()
            var worker = fixture.worker(name: "survivor") { configuration in
                // long enough that only the fix can run the jobs within the test's wait
                configuration.visibilityTimeout = .seconds(600)
            }
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                try await waitUntil(within: .seconds(30), "the jobs are pending for the worker, or ran") {
                    if recorder.count >= Self.jobs { return true }
                    let pending = try await fixture.redis("XPENDING", keys.stream, "default", "-", "+", "100", "survivor")
                    return pending.array?.count == Self.jobs
                }
                try await limit("normal 0 0 0")
                try await recorder.waitFor(Self.jobs, within: .seconds(30))
                #expect(recorder.executions.map(\.job).sorted() == pushed.map { "\($0.id)" }.sorted(), "each job ran once")
                try await waitUntil(within: .seconds(30), "every job is acknowledged") {
                    try await fixture.redis("XPENDING", keys.stream, "default").array?.first == .integer(0)
                }
            }
        }
    }
}
