import Logging
import Spool
import Synchronization
import Testing

/// A handler run outside a worker, as an app's unit test runs it: no Redis.
@Suite("JobContext for a handler's unit test")
struct JobContextTests {
    @Test("a context made with the public init carries its values and a logger with the job's metadata")
    func handlerRunsWithoutAWorker() async throws {
        let logged = LogCapture()
        let id = JobID()
        let context = JobContext(
            id: id, queue: try QueueName("order.placed"), type: "send_receipt", attempt: 2,
            headers: ["tenant": "acme"], logger: Logger(label: "test") { _ in logged.handler() }
        )
        // what an app's handler does with it
        let handler: @Sendable (String, JobContext) async throws -> Void = { order, context in
            context.logger.info("sending receipt", metadata: ["order": "\(order)"])
        }
        try await handler("42", context)
        #expect(context.id == id && context.type == "send_receipt" && context.attempt == 2 && context.maxAttempts == 5)
        #expect(context.group == .default && context.deliveryCount == 1 && context.headers == ["tenant": "acme"])
        #expect(context.enqueuedAt == id.timestamp && context.traceparent == nil && context.workerName == "test")
        let metadata = try #require(logged.lines.first)
        #expect(metadata["spool.queue"] == "order.placed" && metadata["spool.group"] == "default")
        #expect(metadata["spool.job.id"] == "\(id)" && metadata["spool.job.type"] == "send_receipt")
        #expect(metadata["spool.attempt"] == "2" && metadata["order"] == "42")
    }
}

/// Keeps each logged line's metadata (the logger's and the line's), rendered as strings.
private final class LogCapture: Sendable {
    private let captured = Mutex<[[String: String]]>([])
    var lines: [[String: String]] { captured.withLock { $0 } }

    func handler() -> some LogHandler { Handler(capture: self) }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, line in line }
            capture.captured.withLock { $0.append(all.mapValues { "\($0)" }) }
        }
    }
}
