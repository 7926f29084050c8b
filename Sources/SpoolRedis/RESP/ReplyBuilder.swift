import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds each reply as a ``RESPValue`` straight from hiredis's reader.
///
/// hiredis parses RESP and hands every value to a table of reply object functions. Its own
/// table allocates a `redisReply` (and a copy of each string) per value, which the caller
/// then converts and frees: for a read of 32 stream entries, about 1,000 `malloc`s and as many
/// `free`s, a large share of a busy worker's allocator time. ``ReplyBuilder/functions``
/// appends each value to the reply being built instead, so hiredis allocates nothing.
///
/// hiredis calls the functions in the order the values arrive: an array first, then its
/// elements (depth first). That order is all the builder needs, so it keeps a stack of the
/// arrays still filling.
///
/// Not `Sendable`: it belongs to one ``HiredisContext`` and so to one connection thread.
final class ReplyBuilder {
    private struct Frame {
        var elements: [RESPValue]
        let expected: Int
    }

    // `@exclusivity(unchecked)` (here and on `recent`): no two accesses to these can overlap.
    // Each one is inside `add`, `beginArray`, `bytes` or `take`, which call nothing that
    // reaches the builder again, and
    // only the connection's thread calls them (hiredis, from `redisGetReply` in `readReply` or
    // `redisGetReplyFromReader` in `nextParsedReply`, or those two themselves; a loop-driven
    // connection's "thread" is its loop's).

    /// The arrays being filled, outermost first.
    @exclusivity(unchecked) private var frames: [Frame] = []
    /// The finished reply, until ``take()``.
    @exclusivity(unchecked) private var finished: RESPValue?

    /// Installs the builder on a context's reader. The context must not outlive the builder.
    func install(on context: UnsafeMutablePointer<redisContext>) {
        guard let reader = context.pointee.reader else { return }
        install(on: reader)
    }

    /// Installs the builder on a reader. The reader must not outlive the builder.
    func install(on reader: UnsafeMutablePointer<redisReader>) {
        reader.pointee.fn = Self.functions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
    }

    /// The reply hiredis just completed; `nil` if none was completed.
    func take() -> RESPValue? {
        defer { finished = nil }
        return finished
    }

    /// Short strings seen lately, by a hash of their bytes: stream entries repeat their field
    /// names (and often values such as a job type) in every entry, so a copy is shared rather
    /// than allocated again.
    @exclusivity(unchecked) private var recent = [[UInt8]](repeating: [], count: ReplyBuilder.recentCount)
    private static let recentCount = 64
    private static let recentMaxLength = 16

    /// The bytes as an array: a shared one from ``recent`` when the same short string came lately.
    private func bytes(_ buffer: UnsafeRawBufferPointer) -> [UInt8] {
        guard !buffer.isEmpty else { return [] }
        guard buffer.count <= Self.recentMaxLength else { return Array(buffer) }
        var hash = UInt32(truncatingIfNeeded: buffer.count)
        for byte in buffer { hash = (hash &* 31) &+ UInt32(byte) }
        let slot = Int(hash % UInt32(Self.recentCount))
        let known = recent[slot]
        if known.count == buffer.count, known.withUnsafeBytes({ memcmp($0.baseAddress!, buffer.baseAddress!, buffer.count) == 0 }) {
            return known
        }
        let fresh = Array(buffer)
        recent[slot] = fresh
        return fresh
    }

    private func add(_ value: consuming RESPValue) {
        while !frames.isEmpty {
            let top = frames.count - 1
            frames[top].elements.append(value)
            if frames[top].elements.count < frames[top].expected { return }
            value = .array(frames.removeLast().elements)
        }
        finished = value
    }

    private func beginArray(count: Int) {
        if count <= 0 {
            add(.array([]))
            return
        }
        var elements: [RESPValue] = []
        elements.reserveCapacity(count)
        frames.append(Frame(elements: elements, expected: count))
    }

    /// Runs `body` with the builder a reader task belongs to: its reader's `privdata`, which
    /// hiredis copies into the first task of each reply (and, depending on the version, into
    /// nested ones). The builder is borrowed, not retained: it outlives its reader
    /// (``install(on:)``), and hiredis calls these functions only while it parses, from the
    /// builder's own connection (docs/performance.md, "Stop 34": retaining and releasing it
    /// for every value of every reply was a worker's largest share of reference counting).
    private static func withBuilder<T>(_ task: UnsafePointer<redisReadTask>?, _ body: (ReplyBuilder) -> T) -> T {
        var current = task!
        while current.pointee.privdata == nil, let parent = current.pointee.parent {
            current = UnsafePointer(parent)
        }
        return Unmanaged<ReplyBuilder>.fromOpaque(current.pointee.privdata!)._withUnsafeGuaranteedRef(body)
    }

    /// What the functions return for every value: hiredis only checks it is not `NULL` (its
    /// out-of-memory signal) and passes it back, unused, as the finished reply.
    private static var token: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: 0x1)! }

    /// The reply object functions. hiredis reads this table, never writes it.
    ///
    /// `nonisolated(unsafe)`: the pointer and the table are written once, when this global is
    /// initialised (which Swift does exactly once, thread-safely), and only read afterwards, by
    /// any connection thread.
    nonisolated(unsafe) static let functions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        let table = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        // field by field on a zeroed table, so newer hiredis's extra (RESP3) members stay NULL
        table.initialize(to: redisReplyObjectFunctions())
        table.pointee.createString = { task, bytes, length in
            let buffer = UnsafeRawBufferPointer(start: bytes, count: Int(length))
            let type = task!.pointee.type
            ReplyBuilder.withBuilder(task) { builder in
                switch type {
                case REDIS_REPLY_STATUS: builder.add(.simpleString(String(decoding: buffer, as: UTF8.self)))
                case REDIS_REPLY_ERROR: builder.add(.error(String(decoding: buffer, as: UTF8.self)))
                default: builder.add(.bulkString(builder.bytes(buffer)))
                }
            }
            return ReplyBuilder.token
        }
        table.pointee.createArray = { task, count in
            ReplyBuilder.withBuilder(task) { $0.beginArray(count: Int(count)) }
            return ReplyBuilder.token
        }
        table.pointee.createInteger = { task, value in
            ReplyBuilder.withBuilder(task) { $0.add(.integer(Int64(value))) }
            return ReplyBuilder.token
        }
        table.pointee.createNil = { task in
            ReplyBuilder.withBuilder(task) { $0.add(.null) }
            return ReplyBuilder.token
        }
        // the values live in the builder: nothing of hiredis's to free
        table.pointee.freeObject = { _ in }
        return table
    }()
}
