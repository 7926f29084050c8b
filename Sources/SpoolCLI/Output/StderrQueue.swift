/// The bytes waiting for the stderr writer thread: whole lines, bounded by `capacity`.
///
/// A value type the writer keeps behind a lock; it decides what is kept, what is dropped and
/// what the writer takes next, and does no I/O.
struct StderrQueue {
    /// The most bytes held at once, queued and being written together.
    let capacity: Int
    /// Lines queued and not yet taken by the writer, one after the other.
    private(set) var pending: [UInt8] = []
    /// Bytes the writer took and has not finished writing.
    private(set) var inFlight = 0
    /// Lines refused since the last notice, because the queue was full.
    private(set) var dropped = 0
    /// Set when stderr is gone for good (EPIPE, EBADF): everything is discarded from then on.
    private(set) var isBroken = false

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Whether everything queued has been written (or discarded).
    var isDrained: Bool { pending.isEmpty && inFlight == 0 }

    /// Queues one whole line (its newline included), or drops and counts it when it does not
    /// fit; `force` queues it even then (for the newline ending a line whose rest was dropped).
    /// Returns whether it was queued, and whether the writer must be woken (the queue was empty).
    mutating func push(_ line: some Collection<UInt8>, force: Bool = false) -> (queued: Bool, wake: Bool) {
        guard !isBroken else { return (false, false) }
        guard !line.isEmpty else { return (true, false) }
        guard force || pending.count + inFlight + line.count <= capacity else {
            dropped += 1
            return (false, false)
        }
        let wasEmpty = pending.isEmpty
        pending.append(contentsOf: line)
        return (true, wasEmpty)
    }

    /// Hands the writer everything queued; it stays counted until ``finished(_:)``.
    mutating func take() -> [UInt8]? {
        guard !pending.isEmpty, !isBroken else { return nil }
        var batch: [UInt8] = []
        swap(&batch, &pending)
        inFlight += batch.count
        return batch
    }

    /// The writer is done with a batch of `count` bytes, and `lost` of its lines were not
    /// written (a write error other than a broken stderr). Returns the number of dropped
    /// lines to report now (and forgets them), or 0.
    mutating func finished(_ count: Int, lost: Int = 0) -> Int {
        inFlight -= count
        dropped += lost
        guard !isBroken, dropped > 0 else { return 0 }
        defer { dropped = 0 }
        return dropped
    }

    /// Stderr cannot be written any more: discards what is queued and all that comes.
    mutating func breakDown() {
        isBroken = true
        pending = []
        inFlight = 0
        dropped = 0
    }
}
