#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One object kept per thread: taken out for use on that thread, put back after.
///
/// For work that begins and ends without suspending (so on one thread), to keep an object
/// and its buffers for the next use instead of allocating them again. A thread's object is
/// released when the thread ends.
final class ThreadSlot<Object: AnyObject>: Sendable {
    // `Sendable`: `key` is set once in `init`; the slot it names is the calling thread's own.
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        self.key = key
    }

    /// This thread's object, taken out of the slot, or `nil` when it holds none.
    func take() -> Object? {
        guard let raw = pthread_getspecific(key) else { return nil }
        pthread_setspecific(key, nil)
        return Unmanaged<Object>.fromOpaque(raw).takeRetainedValue()
    }

    /// Whether this thread's slot is empty (a nested use may have filled it meanwhile).
    var isEmpty: Bool { pthread_getspecific(key) == nil }

    /// Puts `object` into this thread's slot, which must be empty.
    func put(_ object: Object) {
        pthread_setspecific(key, Unmanaged.passRetained(object).toOpaque())
    }
}
