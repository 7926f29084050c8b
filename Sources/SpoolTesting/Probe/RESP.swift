/// RESP2 encoding and an incremental parser, just enough for `RedisProbe`.
enum RESP {
    /// Encodes a command as an array of bulk strings.
    static func encode(_ arguments: [String]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            let utf8 = Array(argument.utf8)
            bytes += Array("$\(utf8.count)\r\n".utf8) + utf8 + [13, 10]
        }
        return bytes
    }

    /// Parses replies from bytes that arrive in arbitrary pieces.
    struct Parser {
        private var buffer: [UInt8] = []

        /// Adds bytes read from the socket.
        mutating func append(_ bytes: [UInt8]) {
            buffer += bytes
        }

        /// The next complete reply, or `nil` if more bytes are needed.
        mutating func next() throws(RedisServerError) -> RedisProbe.Reply? {
            var index = 0
            guard let reply = try parse(at: &index) else { return nil }
            buffer.removeFirst(index)
            return reply
        }

        private func parse(at index: inout Int) throws(RedisServerError) -> RedisProbe.Reply? {
            guard let line = line(at: &index), let kind = line.first else { return nil }
            let text = String(decoding: line.dropFirst(), as: UTF8.self)
            switch kind {
            case UInt8(ascii: "+"):
                return .simple(text)
            case UInt8(ascii: "-"):
                return .error(text)
            case UInt8(ascii: ":"):
                return .integer(try number(text))
            case UInt8(ascii: "$"):
                let length = try number(text)
                if length < 0 { return .bulk(nil) }
                guard buffer.count >= index + length + 2 else { return nil }
                let body = buffer[index..<index + length]
                index += length + 2
                return .bulk(String(decoding: body, as: UTF8.self))
            case UInt8(ascii: "*"):
                let count = try number(text)
                if count < 0 { return .array(nil) }
                var elements: [RedisProbe.Reply] = []
                for _ in 0..<count {
                    guard let element = try parse(at: &index) else { return nil }
                    elements.append(element)
                }
                return .array(elements)
            default:
                throw RedisServerError(code: .protocolViolation, message: "unexpected RESP type byte \(kind)")
            }
        }

        /// The bytes up to the next CRLF (excluded), advancing past it; `nil` if incomplete.
        private func line(at index: inout Int) -> ArraySlice<UInt8>? {
            var end = index
            while end + 1 < buffer.count {
                if buffer[end] == 13 && buffer[end + 1] == 10 {
                    let line = buffer[index..<end]
                    index = end + 2
                    return line
                }
                end += 1
            }
            return nil
        }

        private func number(_ text: String) throws(RedisServerError) -> Int {
            guard let value = Int(text) else {
                throw RedisServerError(code: .protocolViolation, message: "bad RESP length or integer: \(text)")
            }
            return value
        }
    }
}
