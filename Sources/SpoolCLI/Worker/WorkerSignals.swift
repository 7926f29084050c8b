import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT for `spool worker`, trapped before it does anything else.
///
/// A first signal while the worker is still starting (reading its settings, connecting to
/// Redis, binding the metrics port) ends it at once with status 0: it has taken no job yet.
/// Once the service group exists, the first signal starts a graceful shutdown; a second one
/// kills the running handler programs and exits at once with status 1, leaving unfinished
/// jobs pending (another worker reclaims them once this one's heartbeat lapses). A signal
/// within ``repeatWindow`` of the worker acting on the first (it logs that it is shutting down
/// gracefully) is the same request sent twice, not a second one: GNU `timeout` signals its
/// child and then its own process group, the child included.
///
/// The line about exiting at once is a log line in `--log-format json` (so stderr stays
/// JSON lines), and the usual `spool: …` error line in text mode.
final class WorkerSignals: Sendable {
    private let signals: UnixSignalsSequence
    /// The group to shut down, once startup has made it, and the logger with the metadata
    /// startup added (`redis.url`).
    private let running = Mutex<(group: ServiceGroup, logger: Logger)?>(nil)

    private init(signals: UnixSignalsSequence) {
        self.signals = signals
    }

    /// Traps SIGTERM and SIGINT: from here on they no longer kill the process.
    static func trap() async -> WorkerSignals {
        WorkerSignals(signals: await UnixSignalsSequence(trapping: .sigterm, .sigint))
    }

    /// Runs `body` (the worker's startup, ending in ``serve(_:)``) while handling signals.
    func handling(logger: Logger, format: LogFormat, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.watch(logger: logger, format: format) }
            try await body()
            tasks.cancelAll()
        }
    }

    /// Runs `group` until it ends; a signal from now on shuts it down gracefully (one that
    /// came before `run` is remembered by the group) and is logged with `logger`.
    func serve(_ group: ServiceGroup, logger: Logger) async throws {
        running.withLock { $0 = (group, logger) }
        try await group.run()
    }

    /// How long after the first signal another one counts as the same request.
    static let repeatWindow: Duration = .seconds(1)

    private func watch(logger startupLogger: Logger, format: LogFormat) async {
        var first: ContinuousClock.Instant?
        var logger = startupLogger
        for await signal in signals {
            if let first, ContinuousClock.now - first < Self.repeatWindow {
                logger.info("a signal within 1 s of the first is taken as the same request (GNU timeout sends two); send one later to exit at once",
                            metadata: ["signal": "\(signal)"])
                continue
            }
            if first == nil {
                first = .now
                guard let (group, groupLogger) = running.withLock({ $0 }) else {
                    logger.info("shutting down while starting; no job was taken", metadata: ["signal": "\(signal)"])
                    StandardError.exit(0)
                }
                logger = groupLogger
                await group.triggerGracefulShutdown()
                // The window starts once the first is acted on: a repeat that came while this
                // task waited for a busy thread (a worker under load) is taken from the stream
                // only now, and must not look like a second request. The line comes after, so
                // that a signal sent 1 s or more after it is a second request, as it says.
                first = .now
                logger.info("shutting down gracefully; send the signal again (1 s or more later) to exit at once", metadata: ["signal": "\(signal)"])
            } else {
                await RunningChildren.shared.killAll()
                let message = "exiting at once on a second \(signal); unfinished jobs stay pending for other workers"
                switch format {
                case .text:
                    SpoolCommand.printError(message)
                case .json:
                    // written whatever --log-level says, as the text line is
                    var loud = logger
                    loud.logLevel = .trace
                    loud.error("\(message)", metadata: ["signal": "\(signal)"])
                }
                StandardError.exit(1)
            }
        }
    }
}
