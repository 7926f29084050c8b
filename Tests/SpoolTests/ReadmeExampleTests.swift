import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing
import UnixSignals

/// The README's "Enqueue a job" and "Process jobs" examples, line for line, except the Redis
/// URL and the mailer (this test's), the logger (quiet) and the final `print` (an expectation).
/// Change both together.
@Suite("README: the producer and worker examples run as written")
struct ReadmeExampleTests {
    struct SendReceipt: JobParameters {
        static let jobName = "send_receipt"
        let orderID: String
    }

    /// Stands in for the README's `mailer`.
    final class Mailer: Sendable {
        let sent = Mutex<[String]>([])
        func sendReceipt(for orderID: String) async throws { sent.withLock { $0.append(orderID) } }
    }

    @Test("the worker example, started after the producer example, handles the job it pushed")
    func example() async throws {
        try await withRedisServer { server in
            var logger = Logger(label: "readme")
            logger.logLevel = .critical
            let mailer = Mailer()

            let client = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { client.shutdown() }

            // "Enqueue a job", before any worker exists, as the README reads
            let producer = SpoolProducer(client: client, logger: Logger(label: "app"))

            let before = Int64(Date().timeIntervalSince1970 * 1000)
            let result = try await producer.push(SendReceipt(orderID: "A-1042"), to: QueueName("order.placed"))
            try await producer.push(SendReceipt(orderID: "A-1043"), to: QueueName("order.placed"),
                                    options: PushOptions(delay: .seconds(30), maxAttempts: 3, dedupKey: "receipt-A-1043"))
            // the README's comment on `print(result.id)`: a UUIDv7, time-ordered
            #expect(result.id.version == 7 && (before...Int64(Date().timeIntervalSince1970 * 1000) + 1).contains(result.id.timestamp), "\(result.id)")

            // "Process jobs": the new group runs the job pushed before it existed
            let orders = try QueueName("order.placed")
            let email = try GroupName("email")
            var worker = SpoolWorker(client: client, logger: logger)
            // a new group runs every job still in the stream, those pushed before it existed too;
            // startFromBeginning: false makes it take only the jobs pushed from its creation on
            worker.subscribe(queue: orders, group: email,
                             options: .init(concurrency: 32, retry: .exponentialJitter(maxAttempts: 5)))
            worker.register(SendReceipt.self, queue: orders, group: email) { job, context in
                context.logger.info("sending receipt", metadata: ["order": "\(job.orderID)"])
                try await mailer.sendReceipt(for: job.orderID)     // throw NonRetryableError to skip retries
            }
            let services = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: logger)
            let running = Task { try await services.run() }

            try await waitUntil("the receipt was sent") { mailer.sent.withLock { $0 } == ["A-1042"] }
            await services.triggerGracefulShutdown()
            try await running.value
            // the delayed one is not due for 30 s
            #expect(mailer.sent.withLock { $0 } == ["A-1042"])
        }
    }
}
