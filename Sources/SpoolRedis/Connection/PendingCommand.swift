/// Work handed to a connection thread: one command or a batch, and who waits for the reply.
enum PendingCommand: Sendable {
    case single(RedisCommand, UnsafeContinuation<RESPValue, any Error>)
    case batch([RedisCommand], UnsafeContinuation<[RESPValue], any Error>)
    /// A batch whose replies may call for one more command, written by the connection thread
    /// the moment they are read (``RedisConnection/pipeline(_:then:timeout:)``).
    case chained([RedisCommand], RedisFollowUp, UnsafeContinuation<[RESPValue], any Error>)
    /// The replies of a chained batch, waiting for its follow-up's reply (already written).
    case followUp([RESPValue], UnsafeContinuation<[RESPValue], any Error>)

    /// Appends the RESP encoding of the commands to write for this work (a follow-up's
    /// command is written when its batch's replies are read, not here).
    func encodeCommands(into output: inout [UInt8]) {
        switch self {
        case .single(let command, _): command.encodeRESP(into: &output)
        case .batch(let commands, _), .chained(let commands, _, _):
            for command in commands { command.encodeRESP(into: &output) }
        case .followUp:
            break
        }
    }

    /// The command to write once a chained batch's `replies` are read; `nil` when `followUp`
    /// names none, or one the client refuses (``RedisCommand/unsupportedReason``, not sent),
    /// and then the caller has its replies.
    static func command(
        following replies: [RESPValue], _ followUp: RedisFollowUp, _ continuation: UnsafeContinuation<[RESPValue], any Error>
    ) -> RedisCommand? {
        guard let next = followUp(replies), next.unsupportedReason == nil else {
            continuation.resume(returning: replies)
            return nil
        }
        return next
    }

    /// Ends the work with `error`; a follow-up's batch ends with the replies it has instead
    /// (its commands ran: their replies must reach the caller, see
    /// ``RedisConnection/pipeline(_:then:timeout:)``).
    func fail(_ error: RedisError) {
        switch self {
        case .single(_, let continuation): continuation.resume(throwing: error)
        case .batch(_, let continuation): continuation.resume(throwing: error)
        case .chained(_, _, let continuation): continuation.resume(throwing: error)
        case .followUp(let replies, let continuation): continuation.resume(returning: replies)
        }
    }
}

/// Makes the command that follows a batch from the batch's replies, or `nil` for none. It
/// runs on the connection's thread (a ``ConnectionLoop``'s, between its tasks, for a connection
/// the loop drives), between reading replies: keep it short, and do not block.
public typealias RedisFollowUp = @Sendable ([RESPValue]) -> RedisCommand?
