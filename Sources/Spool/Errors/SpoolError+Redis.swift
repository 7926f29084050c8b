import SpoolRedis

extension SpoolError {
    /// Wraps a Redis failure met while `doing` something, keeping its one-line text.
    static func redis(_ error: any Error, doing: String, file: String = #fileID, line: Int = #line) -> SpoolError {
        if let error = error as? SpoolError { return error }
        let text = (error as? RedisError).map { "\($0)" } ?? "\(error)"
        // a client shut down refused the command: the caller's shutdown, not a Redis failure
        let code: Code = (error as? RedisError)?.code == .shutdown ? .shutdown : .redis
        return SpoolError(
            code: code, message: "\(doing) failed: \(text)", underlying: error,
            file: file, line: line
        )
    }
}
