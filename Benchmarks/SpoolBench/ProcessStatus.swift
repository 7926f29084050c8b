import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Figures from `/proc/<pid>/status` and the monotonic clock.
enum ProcessStatus {
    /// A field such as `VmRSS` or `VmHWM` of `/proc/<pid>/status`, in megabytes (1 MB = 2^20 bytes).
    static func megabytes(_ field: String, pid: Int32? = nil) -> Double? {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kilobytes = Double(parts[1]) { return kilobytes / 1024 }
        }
        return nil
    }

    /// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine.
    static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// User plus system CPU time of this process, in seconds (every thread).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// The number of online processors.
    static var processorCount: Int { ProcessInfo.processInfo.activeProcessorCount }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
