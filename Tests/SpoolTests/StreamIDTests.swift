import Testing

@testable import Spool
@testable import SpoolRedis

@Suite("Stream entry ids")
struct StreamIDTests {
    @Test(arguments: [
        ("1-0", 1, 0), ("1764255123456-12", 1_764_255_123_456, 12), ("0-0", 0, 0), ("5", 5, 0),
        ("18446744073709551615-18446744073709551615", UInt64.max, UInt64.max),
    ] as [(String, UInt64, UInt64)])
    func parses(text: String, milliseconds: UInt64, sequence: UInt64) throws {
        let id = try #require(StreamID(text))
        #expect(id == StreamID(milliseconds: milliseconds, sequence: sequence))
        #expect(StreamID(.bulkString(Array(text.utf8))) == id)
        #expect(StreamID(.simpleString(text)) == id)
        #expect(StreamID(id.description) == id)
    }

    @Test(arguments: ["", "-", "1-", "-1", "1-2-3", "a-1", "1-b", "1 -2", " 1-2", "1-2 ", "+1-2",
                      "18446744073709551616-0", "0-18446744073709551616", "１-2"])
    func rejects(text: String) {
        #expect(StreamID(text) == nil)
        #expect(StreamID(.bulkString(Array(text.utf8))) == nil)
    }

    @Test func otherReplyValuesAreNoIDs() {
        #expect(StreamID(.integer(5)) == nil)
        #expect(StreamID(.null) == nil)
        #expect(StreamID(.array([.bulkString(Array("1-0".utf8))])) == nil)
    }

    @Test func aCommandArgumentIsTheIDsText() {
        var command = RedisCommand("XACK", "stream", "group")
        let ids = [StreamID(milliseconds: 0, sequence: 0), StreamID(milliseconds: 1_764_255_123_456, sequence: 12),
                   StreamID(milliseconds: .max, sequence: .max)]
        for id in ids { command.append(id) }
        #expect(command.count == 6)
        for (index, id) in ids.enumerated() {
            #expect(String(decoding: command.argument(3 + index), as: UTF8.self) == id.description)
        }
    }

    @Test func ordersByTimeThenSequence() {
        let ids = ["2-0", "1-5", "1-10", "0-99"].compactMap(StreamID.init)
        #expect(ids.sorted().map(\.description) == ["0-99", "1-5", "1-10", "2-0"])
        #expect(StreamID(milliseconds: 1, sequence: .max).next == StreamID(milliseconds: 2, sequence: 0))
    }

    @Test func theLargestIDHasNoNextAndItsTimeIsClamped() {
        let largest = StreamID(milliseconds: .max, sequence: .max)
        #expect(largest.next == largest)
        #expect(largest.unixMilliseconds == Int64.max)
        #expect(StreamID(milliseconds: 1_700_000_000_000, sequence: 3).unixMilliseconds == 1_700_000_000_000)
    }
}
