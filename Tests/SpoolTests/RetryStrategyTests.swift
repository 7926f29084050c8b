import Testing

@testable import Spool

@Suite struct RetryStrategyTests {
    static func nanoseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }

    @Test func defaults() {
        let strategy = RetryStrategy.exponentialJitter()
        #expect(strategy.maxAttempts == 5)
        #expect(RetryStrategy.none.maxAttempts == 1)
        #expect(RetryStrategy.fixed(maxAttempts: 0, delay: .seconds(1)).maxAttempts == 1)
    }

    @Test(arguments: [(1, true), (4, true), (5, false), (6, false), (-1, true)])
    func shouldRetryBelowMaxAttempts(attempt: Int, expected: Bool) {
        #expect(RetryStrategy.exponentialJitter(maxAttempts: 5).shouldRetry(attempt: attempt) == expected)
    }

    @Test func noneNeverRetries() {
        #expect(!RetryStrategy.none.shouldRetry(attempt: 1))
    }

    /// `retry: .none` in `register` is `Optional.none`, the subscription's default (5 attempts):
    /// the opposite of what it says. `.noRetries` has no such reading.
    @Test func noRetriesIsNoneWhereAnOptionalIsExpected() {
        let strategy: RetryStrategy? = .noRetries
        #expect(strategy == RetryStrategy.none)
        #expect(strategy?.maxAttempts == 1)
    }

    /// (attempt, cap in seconds) for base 1 s and max backoff 300 s.
    @Test(arguments: [
        (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 256.0), (10, 300.0), (64, 300.0),
        (10_000, 300.0), (Int.max, 300.0), (0, 1.0), (Int.min, 1.0),
    ])
    func fullJitterStaysWithinTheCapAndAveragesHalfOfIt(attempt: Int, capSeconds: Double) {
        let strategy = RetryStrategy.exponentialJitter()
        var rng = SplitMix64(seed: UInt64(bitPattern: Int64(truncatingIfNeeded: attempt)))
        let cap = capSeconds * 1e9
        let samples = 4_000
        var sum = 0.0
        var largest = 0.0
        for _ in 0..<samples {
            let delay = Self.nanoseconds(strategy.delay(afterAttempt: attempt, using: &rng))
            #expect(delay >= 0 && delay <= cap)
            sum += delay
            largest = max(largest, delay)
        }
        let mean = sum / Double(samples)
        #expect(mean > 0.4 * cap && mean < 0.6 * cap, "mean \(mean) for cap \(cap)")
        #expect(largest > 0.95 * cap, "the cap is reached: largest \(largest) of \(cap)")
    }

    @Test func hugeDurationsSaturateInsteadOfTrapping() {
        let strategy = RetryStrategy.exponentialJitter(
            maxAttempts: .max, baseDelay: .seconds(Int64.max), maxBackoff: .seconds(Int64.max)
        )
        var rng = SplitMix64(seed: 1)
        for attempt in [1, 2, 63, 64, 10_000] {
            let delay = strategy.delay(afterAttempt: attempt, using: &rng)
            #expect(delay >= .zero && delay <= .nanoseconds(Int64.max))
        }
    }

    /// A fixed wait of `Int64.max` seconds saturated to `Int64.max` milliseconds, and the
    /// worker's `now + wait` trapped on every failure of such a job.
    @Test func delaysOverAHundredYearsAreAHundredYears() {
        let hundredYears = Duration.seconds(100 * 365 * 86_400)
        var rng = SplitMix64(seed: 5)
        #expect(RetryStrategy.fixed(maxAttempts: 2, delay: .seconds(Int64.max)).delay(afterAttempt: 1, using: &rng) == hundredYears)
        let exponential = RetryStrategy.exponentialJitter(baseDelay: .seconds(Int64.max), maxBackoff: .seconds(Int64.max))
        for attempt in [1, 30, 10_000] {
            #expect(exponential.delay(afterAttempt: attempt, using: &rng) <= hundredYears)
        }
        // the worker's sum: now in milliseconds plus the wait, far from overflowing
        #expect(JobID.currentMillis().addingReportingOverflow(hundredYears.milliseconds).overflow == false)
    }

    @Test func millisecondsSaturateAtInt64sEnds() {
        let nearMax = Duration(secondsComponent: Int64.max / 1000, attosecondsComponent: 999_999_999_999_999_999)
        #expect(nearMax.milliseconds == .max)
        #expect(Duration(secondsComponent: -(Int64.max / 1000) - 1, attosecondsComponent: -999_999_999_999_999_999).milliseconds == .min)
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
    }

    @Test func zeroOrNegativeDelaysMeanRetryAtOnce() {
        var rng = SplitMix64(seed: 2)
        let zeroBase = RetryStrategy.exponentialJitter(baseDelay: .zero)
        #expect(zeroBase.delay(afterAttempt: 3, using: &rng) == .zero)
        let negative = RetryStrategy.exponentialJitter(baseDelay: .seconds(-5), maxBackoff: .seconds(-1))
        #expect(negative.delay(afterAttempt: 3, using: &rng) == .zero)
        #expect(RetryStrategy.fixed(maxAttempts: 3, delay: .seconds(-1)).delay(afterAttempt: 1) == .zero)
    }

    @Test func fixedWaitsTheSameEveryTime() {
        let strategy = RetryStrategy.fixed(maxAttempts: 3, delay: .milliseconds(250))
        var rng = SplitMix64(seed: 3)
        for attempt in 1...5 {
            #expect(strategy.delay(afterAttempt: attempt, using: &rng) == .milliseconds(250))
        }
        #expect(strategy.shouldRetry(attempt: 2) && !strategy.shouldRetry(attempt: 3))
    }

    @Test func subSecondBaseKeepsItsPrecision() {
        let strategy = RetryStrategy.exponentialJitter(baseDelay: .milliseconds(10), maxBackoff: .seconds(1))
        var rng = SplitMix64(seed: 4)
        let delays = (0..<1_000).map { _ in strategy.delay(afterAttempt: 2, using: &rng) }
        #expect(delays.allSatisfy { $0 <= .milliseconds(20) })
        #expect(Set(delays).count > 900)
    }
}
