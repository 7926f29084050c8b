import Testing
@testable import Spool

@Suite("read-ahead sizes (pure)")
struct ReadAheadSizesTests {
    private func sizes(free: Int, inFlight: Int) -> [Int] {
        SubscriptionRunner.readAheadSizes(free: free, inFlight: inFlight)
    }

    @Test("with no read in flight, the free slots go out as two halves when each gets the minimum")
    func splitsWhenBothHalvesAreBigEnough() {
        let minimum = SubscriptionRunner.pipelinedReadMinimum
        #expect(sizes(free: 2 * minimum, inFlight: 0) == [minimum, minimum])
        #expect(sizes(free: 31, inFlight: 0) == [15, 16])
        #expect(sizes(free: 64, inFlight: 0) == [32, 32])
    }

    @Test("with no read in flight and fewer slots, they go out as one read; none free, no read")
    func oneReadBelowTheSplit() {
        let minimum = SubscriptionRunner.pipelinedReadMinimum
        #expect(sizes(free: 2 * minimum - 1, inFlight: 0) == [2 * minimum - 1])
        #expect(sizes(free: 1, inFlight: 0) == [1])
        #expect(sizes(free: 0, inFlight: 0) == [])
    }

    @Test("beside one read in flight, a second goes out only with the minimum; never a third")
    func secondReadNeedsTheMinimum() {
        let minimum = SubscriptionRunner.pipelinedReadMinimum
        #expect(sizes(free: minimum - 1, inFlight: 1) == [])
        #expect(sizes(free: minimum, inFlight: 1) == [minimum])
        #expect(sizes(free: 40, inFlight: 1) == [40])
        #expect(sizes(free: 40, inFlight: 2) == [])
    }

    @Test("the reads never ask for more than the free slots together")
    func neverMoreThanFree() {
        for inFlight in 0...2 {
            for free in 0...130 {
                let total = sizes(free: free, inFlight: inFlight).reduce(0, +)
                #expect(total <= free)
                #expect(sizes(free: free, inFlight: inFlight).allSatisfy { $0 > 0 })
            }
        }
    }
}
