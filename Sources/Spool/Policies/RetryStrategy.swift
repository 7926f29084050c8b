/// How often a failed job is tried again and how long to wait before each retry.
///
/// ```swift
/// .exponentialJitter(maxAttempts: 8, maxBackoff: .seconds(600))
/// ```
///
/// Note: where a `RetryStrategy?` is expected (`register(…, retry:)`), write `.noRetries`:
/// a bare `.none` means `Optional.none` there, "use the subscription's strategy".
public struct RetryStrategy: Sendable, Hashable {
    private enum Backoff: Sendable, Hashable {
        case exponentialJitter(base: Duration, cap: Duration)
        case fixed(Duration)
    }

    /// The most attempts a job gets, the first one included; at least 1.
    public let maxAttempts: Int
    private let backoff: Backoff

    private init(maxAttempts: Int, backoff: Backoff) {
        self.maxAttempts = max(1, maxAttempts)
        self.backoff = backoff
    }

    /// Exponential backoff with full jitter: the wait after attempt `n` is uniform in
    /// `[0, min(maxBackoff, baseDelay * 2^(n-1))]`.
    ///
    /// Defaults: 5 attempts, 1 second base delay, 300 seconds cap. A `maxAttempts` below 1
    /// counts as 1, negative durations as zero and ones over 100 years as 100 years.
    public static func exponentialJitter(
        maxAttempts: Int = 5,
        baseDelay: Duration = .seconds(1),
        maxBackoff: Duration = .seconds(300)
    ) -> RetryStrategy {
        RetryStrategy(
            maxAttempts: maxAttempts,
            backoff: .exponentialJitter(base: bounded(baseDelay), cap: bounded(maxBackoff))
        )
    }

    /// The same wait before every retry, without jitter. A negative `delay` counts as zero, and
    /// one over 100 years as 100 years.
    public static func fixed(maxAttempts: Int, delay: Duration) -> RetryStrategy {
        RetryStrategy(maxAttempts: maxAttempts, backoff: .fixed(bounded(delay)))
    }

    /// `duration` within zero to 100 years (``SpoolProducer``'s longest delay): a retry's due
    /// time is now plus the wait, in milliseconds, and a wait near `Int64.max` milliseconds
    /// overflowed that sum (the worker trapped on each failure of such a job).
    private static func bounded(_ duration: Duration) -> Duration {
        min(max(.zero, duration), SpoolProducer.longestDuration)
    }

    /// One attempt, no retries: a failed job goes straight to the dead-letter stream. Where a
    /// `RetryStrategy?` is expected, write ``noRetries`` (the same strategy): a bare `.none`
    /// there is `Optional.none`.
    public static let none = RetryStrategy(maxAttempts: 1, backoff: .fixed(.zero))

    /// ``none`` under a name that cannot be read as `Optional.none`: `retry: .noRetries`.
    public static let noRetries = RetryStrategy.none

    /// Whether a job whose attempt number `attempt` just failed gets another attempt.
    public func shouldRetry(attempt: Int) -> Bool {
        attempt < maxAttempts
    }

    /// The wait before retrying a job whose attempt number `attempt` (1-based) just failed,
    /// drawing the jitter from `rng`. Never traps, however large `attempt` is.
    public func delay(
        afterAttempt attempt: Int,
        using rng: inout some RandomNumberGenerator
    ) -> Duration {
        switch backoff {
        case .fixed(let delay):
            return delay
        case .exponentialJitter(let base, let cap):
            let capNanos = Self.nanoseconds(cap)
            let baseNanos = Self.nanoseconds(base)
            let doublings = UInt64(clamping: max(attempt, 1) - 1)
            let ceiling: UInt64
            if baseNanos == 0 {
                ceiling = 0
            } else if doublings >= 63 || baseNanos > capNanos >> doublings {
                ceiling = capNanos
            } else {
                ceiling = baseNanos << doublings
            }
            let nanos = UInt64.random(in: 0...ceiling, using: &rng)
            return .nanoseconds(Int64(clamping: nanos))
        }
    }

    /// The wait before retrying a job whose attempt number `attempt` just failed, with jitter
    /// from the system random number generator.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var rng = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &rng)
    }

    /// `duration` in whole nanoseconds, saturating at `Int64.max` (about 292 years).
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let total = scaled.addingReportingOverflow(UInt64(max(0, attoseconds) / 1_000_000_000))
        guard !overflow, !total.overflow, total.partialValue <= UInt64(Int64.max) else {
            return UInt64(Int64.max)
        }
        return total.partialValue
    }
}
