import Spool
import Synchronization

/// Pushes small batches of jobs to one queue until stopped, remembering which pushes Redis
/// acknowledged (a failed push, e.g. during a failover, is counted and not retried).
final class JobFlow: Sendable {
    private struct State {
        var acknowledged: [String] = []
        var failures = 0
        var isStopped = false
        var isPaused = false
        var isPushing = false
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
            let paused = state.withLock { state in
                state.isPushing = !state.isPaused
                return state.isPaused
            }
            if paused {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            defer { state.withLock { $0.isPushing = false } }
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

    /// Holds pushes until ``resume()``; returns once no push is in flight.
    func pause() async throws {
        state.withLock { $0.isPaused = true }
        while state.withLock({ $0.isPushing }) {
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Lets pushes go on after ``pause()``.
    func resume() {
        state.withLock { $0.isPaused = false }
    }

    /// Ends ``run(_:to:)`` after its current push.
    func stop() {
        state.withLock { $0.isStopped = true }
    }
}
