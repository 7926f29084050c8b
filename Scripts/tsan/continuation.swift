// A control for Scripts/tsan.sh: correct code that ThreadSanitizer reports on Linux.
// A task awaits continuations that a thread of its own resumes, as a connection's thread
// resumes its callers; the thread takes them from a queue under a lock.
import Foundation

final class Waiters: @unchecked Sendable {  // `waiting` only under `lock`
    let lock = NSLock()
    var waiting: [UnsafeContinuation<Int, Never>] = []
}

let waiters = Waiters()

func startResumer() {
    Thread {
        while true {
            waiters.lock.lock()
            let batch = waiters.waiting
            waiters.waiting = []
            waiters.lock.unlock()
            for continuation in batch { continuation.resume(returning: 1) }
            if batch.isEmpty { sched_yield() }
        }
    }.start()
}

@main struct Main {
    static func main() async {
        startResumer()
        var total = 0
        for _ in 0..<200_000 {
            total += await withUnsafeContinuation { continuation in
                waiters.lock.lock()
                waiters.waiting.append(continuation)
                waiters.lock.unlock()
            }
        }
        print("done", total)
    }
}
