import Testing
@testable import SpoolRedis

@Suite("RedisCommand RESP encoding")
struct RedisCommandTests {
    @Test("encodes as RESP arrays of bulk strings, binary-safe")
    func encodesRESP() {
        var command = RedisCommand("SET", "key")
        command.append([0, 13, 10, 255] as [UInt8])
        var buffer: [UInt8] = []
        command.encodeRESP(into: &buffer)
        let expected: [UInt8] = Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\n".utf8) + [0, 13, 10, 255] + [13, 10]
        #expect(buffer == expected)
    }

    @Test("lengths of every size and empty arguments", arguments: [0, 1, 9, 10, 99, 100, 12_345, 1_048_577])
    func lengths(_ size: Int) {
        var command = RedisCommand("ECHO")
        command.append([UInt8](repeating: 120, count: size))
        var buffer: [UInt8] = []
        command.encodeRESP(into: &buffer)
        let header = Array("*2\r\n$4\r\nECHO\r\n$\(size)\r\n".utf8)
        #expect(Array(buffer.prefix(header.count)) == header)
        #expect(buffer.count == header.count + size + 2)
    }

    @Test("argument access and names")
    func arguments() {
        let command = RedisCommand("xadd", "s", "*", "f", "v")
        #expect(command.name == "XADD")
        #expect(command.count == 5)
        #expect(Array(command.argument(1)) == Array("s".utf8))
        #expect(Array(command.argument(4)) == Array("v".utf8))
    }
}
