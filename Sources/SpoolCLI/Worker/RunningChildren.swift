import Synchronization

#if canImport(Glibc)
import Glibc
#endif
#if os(Linux)
import CSpoolExec
#endif

/// The process groups of running exec handlers, so that exiting at once (a second signal)
/// can kill them instead of leaving them behind.
///
/// A handler is counted from before its program is spawned (``willStart()``) until it is
/// registered (``started(_:)``) or known not to have started (``didNotStart()``), so that
/// ``killAll()`` also gets a program being spawned while it runs: it waits (briefly) for
/// those, and a program registered after `killAll()` began is killed at registration.
final class RunningChildren: Sendable {
    static let shared = RunningChildren()

    private struct State {
        var groups: Set<pid_t> = []
        /// Handlers between ``willStart()`` and ``started(_:)`` / ``didNotStart()``.
        var starting = 0
        var exiting = false
    }

    private let state = Mutex(State())

    /// Call before spawning a program; `false` once the process is exiting (spawn nothing).
    func willStart() -> Bool {
        state.withLock { state in
            guard !state.exiting else { return false }
            state.starting += 1
            return true
        }
    }

    /// The program of a ``willStart()`` runs, leading process group `group`.
    func started(_ group: pid_t) {
        state.withLock { state in
            state.starting -= 1
            if state.exiting {
                // the trampoline ends itself, the program and what it started on this signal
                // (held until it has started the program); elsewhere the group is SIGKILLed
                if let signal = Self.endSignal { kill(group, signal) } else { kill(-group, SIGKILL) }
            } else {
                state.groups.insert(group)
            }
        }
    }

    /// The program of a ``willStart()`` was not started (spawning failed).
    func didNotStart() {
        state.withLock { $0.starting -= 1 }
    }

    func remove(_ group: pid_t) {
        state.withLock { _ = $0.groups.remove(group) }
    }

    /// The signal on which the exec trampoline kills the program, what it started, and a
    /// process group the program made of its own (`SPOOL_EXEC_END_SIGNAL`), on Linux.
    static var endSignal: Int32? {
        #if os(Linux)
        SPOOL_EXEC_END_SIGNAL
        #else
        nil
        #endif
    }

    /// Ends every running handler's processes; the process is about to exit. Each trampoline
    /// gets ``endSignal`` first and ends itself, the program and what it started; what is
    /// still registered a second later gets its process group SIGKILLed. A program being
    /// spawned meanwhile is waited for (up to a second) and killed too. Signals go out under
    /// the lock, to groups still registered: a handler removes its group before
    /// swift-subprocess reaps the trampoline, so the id is not another process's. The waits
    /// sleep as tasks, so the handlers can deregister meanwhile on a pool of one thread too.
    func killAll() async {
        state.withLock { state in
            state.exiting = true
            if let signal = Self.endSignal { for group in state.groups { kill(group, signal) } }
        }
        if Self.endSignal != nil { await waitUpToASecond { $0.groups.isEmpty } }
        state.withLock { state in
            for group in state.groups { kill(-group, SIGKILL) }
        }
        // `started(_:)` kills what registers from now on; wait for spawns in flight
        await waitUpToASecond { $0.starting == 0 }
    }

    /// Returns once `done` holds for the state, or after about a second.
    private func waitUpToASecond(until done: (State) -> Bool) async {
        for _ in 0..<100 {
            if state.withLock({ done($0) }) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// For a handler whose program just ended: when the process is exiting at once, the
    /// program died of `killAll()`, not of the job, and the job must stay pending; so the
    /// handler reports nothing and waits here until the process has exited.
    func holdIfExiting() async {
        while state.withLock({ $0.exiting }) {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}
