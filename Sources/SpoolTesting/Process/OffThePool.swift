import Foundation

/// Runs `body` on a thread of its own and awaits its result, so that a blocking wait
/// (Foundation's `Process.waitUntilExit`, a pipe read to its end) never holds a thread of
/// Swift's cooperative pool.
///
/// That pool has as many threads as the machine has cores, two here; and the SIGCHLD
/// handling that ends a `waitUntilExit` runs on Dispatch's global queue, whose threads are the
/// same. Two tests blocked in `waitUntilExit` at once held the whole pool: nothing reaped
/// their children, and the test run hung.
public func runOffThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
