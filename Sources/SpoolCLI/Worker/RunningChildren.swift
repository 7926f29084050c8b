import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process groups of running exec handlers, so that exiting at once (a second signal)
/// can kill them instead of leaving them behind.
final class RunningChildren: Sendable {
    static let shared = RunningChildren()

    private let groups = Mutex<Set<pid_t>>([])

    func insert(_ group: pid_t) {
        groups.withLock { _ = $0.insert(group) }
    }

    func remove(_ group: pid_t) {
        groups.withLock { _ = $0.remove(group) }
    }

    /// SIGKILLs every running handler's process group.
    func killAll() {
        for group in groups.withLock({ $0 }) {
            kill(-group, SIGKILL)
        }
    }
}
