import Testing
@testable import Spool

@Suite("Handoff (the worker's job tasks waiting for their next job)", .timeLimit(.minutes(3)))
struct HandoffTests {
    /// Waits (yielding, bounded) until `count` tasks wait on `handoff`.
    private func waitForWaiters(_ handoff: Handoff<Int>, _ count: Int) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(30)
        while handoff.waitingCount < count {
            try #require(clock.now < deadline, "\(handoff.waitingCount) of \(count) tasks waiting after 30 s")
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    @Test("an item given while nobody waits is refused (the caller starts a task); one given to a waiting task reaches it")
    func give() async throws {
        let handoff = Handoff<Int>(limit: 4)
        #expect(!handoff.give(1))
        async let next = handoff.next()
        try await waitForWaiters(handoff, 1)
        #expect(handoff.give(2))
        #expect(await next == 2)
        #expect(handoff.waitingCount == 0)
    }

    @Test("close ends the waits in progress and every later one with nil")
    func close() async throws {
        let handoff = Handoff<Int>(limit: 4)
        async let first = handoff.next()
        async let second = handoff.next()
        try await waitForWaiters(handoff, 2)
        handoff.close()
        #expect(await first == nil)
        #expect(await second == nil)
        #expect(await handoff.next() == nil)
        #expect(!handoff.give(3))
    }

    @Test("no more than the limit wait: one more gets nil at once")
    func limit() async throws {
        let handoff = Handoff<Int>(limit: 1)
        async let waiting = handoff.next()
        try await waitForWaiters(handoff, 1)
        #expect(await handoff.next() == nil)
        #expect(handoff.give(7))
        #expect(await waiting == 7)
    }

    /// It closed the handoff at first: one handler timeout then made every later job start a
    /// task of its own. A timed-out job task is cancelled before it waits, so it does not wait;
    /// one cancelled while it waits (the worker's task was cancelled) waits for its item or for
    /// the close that the worker's stopping brings.
    @Test("a task cancelled before it waits gets nil and does not wait; one cancelled while waiting waits on, for an item or the close")
    func cancelled() async throws {
        let handoff = Handoff<Int>(limit: 4)
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await handoff.next()
        }
        #expect(await early.value == nil)
        #expect(handoff.waitingCount == 0)
        // the handoff still works for the others
        async let later = handoff.next()
        try await waitForWaiters(handoff, 1)
        #expect(handoff.give(6))
        #expect(await later == 6)
        // cancelled while waiting: still waiting, and given the next item
        let waiting = Task { await handoff.next() }
        try await waitForWaiters(handoff, 1)
        waiting.cancel()
        #expect(handoff.waitingCount == 1)
        #expect(handoff.give(5))
        #expect(await waiting.value == 5)
        // or ended by the close
        let closed = Task { await handoff.next() }
        try await waitForWaiters(handoff, 1)
        closed.cancel()
        handoff.close()
        #expect(await closed.value == nil)
    }
}
