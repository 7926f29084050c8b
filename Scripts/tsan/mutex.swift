// A control for Scripts/tsan.sh: correct code that ThreadSanitizer reports on Linux.
// Two threads change one dictionary, each change inside the same Mutex's withLock.
import Foundation
import Synchronization

final class Shared: Sendable {
    let counts = Mutex<[Int: Int]>([:])
}

let shared = Shared()
let threads = (0..<2).map { thread in
    Thread {
        for index in 0..<20_000 { shared.counts.withLock { $0[index % 7, default: 0] += thread } }
    }
}
threads.forEach { $0.start() }
while shared.counts.withLock({ $0.values.reduce(0, +) }) < 20_000 { usleep(1_000) }
print("done")
