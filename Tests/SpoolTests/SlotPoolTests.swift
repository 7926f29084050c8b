import Testing
@testable import Spool

@Suite("SlotPool")
struct SlotPoolTests {
    @Test("takes what is free up to the maximum, never more")
    func acquireTakesFree() async {
        let pool = SlotPool(5)
        #expect(await pool.acquire(max: 3) == 3)
        #expect(await pool.acquire(max: 3) == 2)
        #expect(pool.tryAcquire(max: 3) == 0)
        pool.release(4)
        #expect(pool.tryAcquire(max: 10) == 4)
    }

    @Test("close wakes a waiter with 0 and later acquires return 0")
    func close() async {
        let pool = SlotPool(1)
        #expect(await pool.acquire(max: 1) == 1)
        async let waiting = pool.acquire(max: 1)
        pool.close()
        #expect(await waiting == 0)
        #expect(await pool.acquire(max: 1) == 0)
    }

    @Test("wake ends a wakeable wait with 0, or the next one if none waits; a plain wait ignores it")
    func wake() async throws {
        let pool = SlotPool(1)
        #expect(await pool.acquire(max: 1) == 1)
        // no wait under way: the next wakeable one returns 0 at once, and only that one
        pool.wake()
        #expect(await pool.acquire(max: 1, wakeable: true) == 0)
        // a wait under way is ended
        let waiting = Task { await pool.acquire(max: 1, wakeable: true) }
        try await waitUntil("the wakeable wait is under way") { pool.hasWaiter }
        pool.wake()
        #expect(await waiting.value == 0)
        // a plain wait is not: it gets the slot when it is released
        let plain = Task { await pool.acquire(max: 1) }
        try await waitUntil("the plain wait is under way") { pool.hasWaiter }
        pool.wake()
        pool.release(1)
        #expect(await plain.value == 1)
        // that wake stays for the next wakeable wait
        #expect(await pool.acquire(max: 1, wakeable: true) == 0)
    }
}
