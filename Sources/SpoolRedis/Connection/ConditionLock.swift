#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with one condition variable, for handing work to a connection thread.
///
/// `@unchecked Sendable`: the mutex and condition live at stable heap addresses that are
/// created in `init` and destroyed in `deinit` only; pthread functions are thread-safe.
package final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        // timed waits (``wait(for:)``) count on the monotonic clock: a change of the wall
        // clock neither cuts them short nor stretches them
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    package func lock() { pthread_mutex_lock(mutex) }
    package func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a signal; call with the lock held.
    package func wait() { pthread_cond_wait(condition, mutex) }
    /// Waits for a signal, or until `duration` has passed; call with the lock held. Like any
    /// condition wait it may return early: the caller re-checks what it waits for.
    package func wait(for duration: Duration) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // at most a day at a time (no overflow for any duration): the caller waits again
        let (seconds, attoseconds) = min(duration, .seconds(86_400)).components
        let nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var deadline = timespec(
            tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000
        )
        pthread_cond_timedwait(condition, mutex, &deadline)
    }
    /// Wakes the waiting thread.
    package func signal() { pthread_cond_signal(condition) }
    /// Wakes every waiting thread.
    package func broadcast() { pthread_cond_broadcast(condition) }

    /// Runs `body` with the lock held.
    @inline(__always)
    package func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A joinable OS thread.
package struct JoinableThread: ~Copyable {
    private let handle: pthread_t

    /// Starts `body` on a new thread named `name` (cut to 15 bytes, as Linux keeps them):
    /// `top -H`, `perf` and `/proc/<pid>/task/*/comm` show it, where an unnamed thread shows
    /// the name of the thread that started it (`…oot.default-qos`, Swift's task pool).
    ///
    /// - Throws: ``ThreadStartFailure`` when no thread can be created (`EAGAIN`: the process
    ///   or user is at its limit of threads or processes, or out of memory for a stack).
    package init(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartFailure) {
        self.handle = try Self.spawn(name: name, body)
    }

    /// Waits for the thread to finish. Not on that thread: it would wait for itself (`pthread_join`
    /// refuses, and the thread would never be joined).
    package consuming func join() {
        precondition(pthread_equal(handle, pthread_self()) == 0, "a thread cannot join itself")
        pthread_join(handle, nil)
    }

    /// Starts `body` on a new thread named `name` that nobody joins (its resources go when it
    /// ends); returns `false`, with `body` not run, when no thread can be created.
    package static func detached(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        guard let handle = try? spawn(name: name, body) else { return false }
        pthread_detach(handle)
        return true
    }

    private static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartFailure) -> pthread_t {
        final class Box {
            let name: String
            let body: @Sendable () -> Void
            init(_ name: String, _ body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        let box = Unmanaged.passRetained(Box(name, body))
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            // named by the thread itself: Darwin names only the calling thread
            nameThisThread(box.name)
            box.body()
            return nil
        }, box.toOpaque())
        guard status == 0 else {
            box.release()
            throw ThreadStartFailure(code: status)
        }
        return handle
    }
}

/// `pthread_create` failed.
package struct ThreadStartFailure: Error, CustomStringConvertible {
    /// The error number `pthread_create` returned (or `eventfd`, for a ``ConnectionLoop``).
    package let code: Int32

    /// Why, with what to change for the usual cause.
    package var cause: String {
        let reason = String(cString: strerror(code))
        guard code == EAGAIN else { return reason }
        return reason + ": the process is at a limit of threads (`ulimit -u`, a container's pids limit, "
            + "/proc/sys/kernel/threads-max) or of memory for their stacks"
    }

    package var description: String { "no thread could be started (\(cause))" }
}
