import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs the worker's service group: the first SIGTERM or SIGINT starts a graceful shutdown;
/// a second one kills the running handler programs and exits at once with status 1, leaving
/// unfinished jobs pending (another worker reclaims them once this one's heartbeat lapses).
///
/// The line about exiting at once is a log line in `--log-format json` (so stderr stays
/// JSON lines), and the usual `spool: …` error line in text mode.
enum WorkerSignals {
    static func run(_ group: ServiceGroup, logger: Logger, format: LogFormat) async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await group.run()
            }
            tasks.addTask {
                var received = 0
                for await signal in signals {
                    received += 1
                    if received == 1 {
                        logger.info("shutting down gracefully; send the signal again to exit at once", metadata: ["signal": "\(signal)"])
                        await group.triggerGracefulShutdown()
                    } else {
                        RunningChildren.shared.killAll()
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
            try await tasks.next()
            tasks.cancelAll()
        }
    }
}
