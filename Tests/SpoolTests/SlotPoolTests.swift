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

    @Test("a waiting acquire wakes only once slots are really free after an overdraw")
    func overdraw() async {
        let pool = SlotPool(2)
        #expect(await pool.acquire(max: 2) == 2)
        pool.overdraw(2)            // two more jobs than slots are running
        async let waiting = pool.acquire(max: 2)
        pool.release(2)             // back to zero free: the waiter must keep waiting
        pool.release(1)             // one free
        #expect(await waiting == 1)
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
