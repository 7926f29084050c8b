import Logging
import Spool
import Testing

/// A handler run outside a worker, as an app's unit test runs it: no Redis.
@Suite("JobContext for a handler's unit test")
struct JobContextTests {
    @Test("a context made with the public init carries its values and a logger with the job's metadata")
    func handlerRunsWithoutAWorker() async throws {
        let logged = CapturedLog()
        let id = JobID()
        let context = JobContext(
            id: id, queue: try QueueName("order.placed"), type: "send_receipt", attempt: 2,
            headers: ["tenant": "acme"], logger: logged.logger
        )
        // what an app's handler does with it
        let handler: @Sendable (String, JobContext) async throws -> Void = { order, context in
            context.logger.info("sending receipt", metadata: ["order": "\(order)"])
        }
        try await handler("42", context)
        #expect(context.id == id && context.type == "send_receipt" && context.attempt == 2 && context.maxAttempts == 5)
        #expect(context.group == .default && context.deliveryCount == 1 && context.headers == ["tenant": "acme"])
        #expect(context.enqueuedAt == id.timestamp && context.traceparent == nil && context.workerName == "test")
        let metadata = try #require(logged.metadata.first)
        #expect(metadata["spool.queue"] == "order.placed" && metadata["spool.group"] == "default")
        #expect(metadata["spool.job.id"] == "\(id)" && metadata["spool.job.type"] == "send_receipt")
        #expect(metadata["spool.attempt"] == "2" && metadata["order"] == "42")
    }

    /// A test double of an app's pushing code needs to return what `push` returns.
    @Test("a PushResult made with the public init says what a push would")
    func pushResultForATestDouble() {
        let id = JobID()
        #expect(PushResult(id: id) == PushResult(id: id, isDuplicate: false))
        #expect(PushResult(id: id, isDuplicate: true).description == "\(id) (duplicate)")
        #expect(PushResult(id: id).description == "\(id)")
    }
}
