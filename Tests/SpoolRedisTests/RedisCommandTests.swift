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

    /// Synthesized, equality compared the script's source and the resend flag, and hashing a
    /// command hashed the whole Lua source (API audit).
    @Test("commands are equal when they send the same bytes: the kept script and the resend flag take no part")
    func equalityIsTheBytes() {
        let script = RedisScript("return 1")
        let plain = RedisCommand("EVALSHA", script.sha1, "0")
        var marked = RedisCommand.evalSHA(script, keys: [], arguments: [])
        #expect(plain == marked && plain.hashValue == marked.hashValue)
        marked.allowsResendAfterLostReply = false
        #expect(plain == marked && plain.hashValue == marked.hashValue)
        #expect(Set([plain, marked]).count == 1)
        #expect(RedisCommand("GET", "a") != RedisCommand("GET", "b"))
        #expect(RedisCommand("GET", "ab") != RedisCommand("GET", "a", "b"))
    }

    @Test("argument access and names")
    func arguments() {
        let command = RedisCommand("xadd", "s", "*", "f", "v")
        #expect(command.name == "XADD")
        #expect(command.count == 5)
        #expect(Array(command.argument(1)) == Array("s".utf8))
        #expect(Array(command.argument(4)) == Array("v".utf8))
    }

    @Test("integers, buffers and slices encode like their text; arguments read back as appended")
    func mixedArguments() {
        var command = RedisCommand("EVALSHA")
        command.append(-1_234)
        command.append(Int64.min)
        command.append(0)
        command.append([13, 10] as [UInt8])
        command.append(Array("$5\r\n".utf8)[1...])
        let bytes: [UInt8] = Array(repeating: 36, count: 12)
        bytes.withUnsafeBufferPointer { command.append($0) }
        command.append("")
        var buffer: [UInt8] = []
        command.encodeRESP(into: &buffer)
        let expected = "*8\r\n$7\r\nEVALSHA\r\n$5\r\n-1234\r\n$20\r\n-9223372036854775808\r\n$1\r\n0\r\n"
            + "$2\r\n\r\n\r\n$3\r\n5\r\n\r\n$12\r\n$$$$$$$$$$$$\r\n$0\r\n\r\n"
        #expect(buffer == Array(expected.utf8))
        #expect(command.count == 8)
        #expect(command.name == "EVALSHA")
        #expect(Array(command.argument(2)) == Array("-9223372036854775808".utf8))
        #expect(Array(command.argument(4)) == [13, 10])
        #expect(Array(command.argument(5)) == Array("5\r\n".utf8))
        #expect(Array(command.argument(6)) == bytes)
        #expect(command.argument(7).isEmpty)
    }
}
