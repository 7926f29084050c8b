import Spool
import Synchronization

/// Pushes small batches of jobs to one queue until stopped, remembering which pushes Redis
/// acknowledged (a failed push, e.g. during a failover, is counted and not retried).
final class JobFlow: Sendable {
    private struct State {
        var acknowledged: [String] = []
        var failures = 0
        var isStopped = false
    }

    private let state = Mutex(State())

    /// The ids of the jobs whose push returned successfully.
    var acknowledged: [String] { state.withLock { $0.acknowledged } }
    /// How many pushes threw.
    var failures: Int { state.withLock { $0.failures } }

    /// Pushes batches of 5 jobs, a few ms apart, until ``stop()``.
    func run(_ producer: SpoolProducer, to queue: QueueName) async {
        var next = 0
        while !state.withLock({ $0.isStopped }) {
            do {
                let pushed = try await producer.push((next..<next + 5).map { Greeting(name: "flow\($0)") }, to: queue)
                state.withLock { $0.acknowledged += pushed.map { "\($0.id)" } }
            } catch {
                state.withLock { $0.failures += 1 }
                try? await Task.sleep(for: .milliseconds(20))
            }
            next += 5
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Ends ``run(_:to:)`` after its current push.
    func stop() {
        state.withLock { $0.isStopped = true }
    }
}
