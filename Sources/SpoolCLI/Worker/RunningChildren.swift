import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process groups of running exec handlers, so that exiting at once (a second signal)
/// can kill them instead of leaving them behind.
final class RunningChildren: Sendable {
    static let shared = RunningChildren()

    private let groups = Mutex<Set<pid_t>>([])
    private let exiting = Atomic<Bool>(false)

    func insert(_ group: pid_t) {
        groups.withLock { _ = $0.insert(group) }
    }

    func remove(_ group: pid_t) {
        groups.withLock { _ = $0.remove(group) }
    }

    /// SIGKILLs every running handler's process group; the process is about to exit.
    func killAll() {
        exiting.store(true, ordering: .sequentiallyConsistent)
        for group in groups.withLock({ $0 }) {
            kill(-group, SIGKILL)
        }
    }

    /// For a handler whose program just ended: when the process is exiting at once, the
    /// program died of `killAll()`, not of the job, and the job must stay pending; so the
    /// handler reports nothing and waits here until the process has exited.
    func holdIfExiting() async {
        while exiting.load(ordering: .sequentiallyConsistent) {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
