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
}
