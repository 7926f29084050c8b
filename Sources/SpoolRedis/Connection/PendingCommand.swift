/// Work handed to a connection thread: one command or a batch, and who waits for the reply.
enum PendingCommand: Sendable {
    case single(RedisCommand, UnsafeContinuation<RESPValue, any Error>)
    case batch([RedisCommand], UnsafeContinuation<[RESPValue], any Error>)

    var commandCount: Int {
        switch self {
        case .single: return 1
        case .batch(let commands, _): return commands.count
        }
    }

    func fail(_ error: RedisError) {
        switch self {
        case .single(_, let continuation): continuation.resume(throwing: error)
        case .batch(_, let continuation): continuation.resume(throwing: error)
        }
    }
}
