import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The worker's limit on open file descriptors (RLIMIT_NOFILE).
///
/// At start the soft limit is raised to the hard one, as most servers do (the exec
/// trampoline puts the original soft limit back for the programs it starts). A worker with
/// exec handlers then refuses to start when their concurrency cannot fit the limit: each
/// running program holds pipes and a process descriptor, and swift-subprocess stops the
/// process with a fatal error when it created one pipe of a job and the next one failed
/// (EMFILE), so running out must not happen.
enum FileLimit {
    /// Descriptors one running exec program takes while it starts: three pipes (both ends
    /// until the spawn) and its process descriptor.
    static let perExecJob = 7
    /// Descriptors kept for everything else: stdio, Redis connections, the metrics endpoint
    /// and the HTTP client, epoll and signal descriptors, the libraries'.
    static let reserve = 64

    /// The soft limit before ``prepare(execSlots:)`` raised it (0: not raised, or unknown).
    static let originalSoftLimit = Atomic<UInt64>(0)

    /// Raises the soft limit to the hard limit, then checks that `execSlots` programs at a
    /// time fit; throws a one-line error when they cannot.
    static func prepare(execSlots: Int) throws {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 {
                originalSoftLimit.store(UInt64(limit.rlim_cur), ordering: .sequentiallyConsistent)
                limit = raised
            }
        }
        guard execSlots > 0, limit.rlim_cur != rlim_t.max else { return }
        let needed = reserve + perExecJob * execSlots
        let available = Int(clamping: UInt64(limit.rlim_cur))
        guard needed > available else { return }
        let fits = max(0, (available - reserve) / perExecJob)
        throw CLIError(
            "exec handlers with concurrency \(execSlots) need about \(needed) file descriptors "
                + "(\(perExecJob) per running program, plus \(reserve)), but the limit (ulimit -n, hard limit) is \(available): "
                + (fits > 0 ? "lower the concurrency to \(fits) or less, or raise the limit" : "raise the limit")
        )
    }
}
