import Foundation
import Testing

@testable import Spool

/// The fast payload coders against Foundation's: equal results, or a fallback.
@Suite struct PayloadJSONTests {
    enum Color: String, Codable, Equatable { case red, green }
    enum Level: Int, Codable, Equatable { case low = 1, high = 9 }
    enum Shape: Codable, Equatable {
        case circle(radius: Double)
        case rect(Int, Int)
        case none
    }

    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
    }

    struct Everything: Codable, Equatable {
        var int = Int.min, int8 = Int8.min, int16 = Int16.min, int32 = Int32.min, int64 = Int64.min
        var uint = UInt.max, uint8 = UInt8.max, uint16 = UInt16.max, uint32 = UInt32.max, uint64 = UInt64.max
        var maxInt = Int.max, maxInt8 = Int8.max, maxInt64 = Int64.max
        var doubles: [Double] = [0.1, 1e300, -0.0, .leastNonzeroMagnitude, 1.7976931348623157e308, 3, -2.5, 123456789.125]
        var floats: [Float] = [0.1, 3.4028235e38, .leastNonzeroMagnitude, -7]
        var flag = true
        var off = false
        var text = "héllo 👋🏽 \"quoted\" back\\slash /slash \n\r\t\u{0}\u{1}\u{1F}\u{7F} 日本"
        var inner = Inner(name: "a", tags: ["x", "", "z"])
        var nested: [[Int]] = [[1, 2], [], [3]]
        var optionalSet: Int? = 5
        var optionalNil: String? = nil
        var optionals: [Int?] = [1, nil, 3]
        var byName: [String: Int] = ["one": 1, "two": 2, "": 0]
        var byNumber: [Int: String] = [1: "one", -2: "minus two"]
        var color = Color.green
        var level = Level.high
        var shapes: [Shape] = [.circle(radius: 1.5), .rect(2, 3), .none]
        var empty: [String: [Int]] = [:]
    }

    struct Tick: Codable, Equatable { let n: Int }

    /// Fast encode then Foundation decode, and Foundation encode then fast decode.
    private func roundTrips<T: Codable & Equatable>(_ value: T) throws {
        let fast = try PayloadJSON.encode(value)
        #expect(try JSONDecoder().decode(T.self, from: Data(fast)) == value)
        let foundation = Array(try JSONEncoder().encode(value))
        #expect(try PayloadJSON.decode(T.self, from: foundation) == value)
        #expect(try PayloadJSON.decode(T.self, from: fast) == value)
    }

    @Test func roundTripsManyShapes() throws {
        try roundTrips(Everything())
        try roundTrips(Tick(n: 1))
        try roundTrips([Tick(n: -1), Tick(n: 0)])
        try roundTrips(Inner(name: "", tags: []))
        try roundTrips("top-level string")
        try roundTrips(42)
        try roundTrips([Shape.rect(0, -1)])
        try roundTrips(Optional<Int>.none)
    }

    @Test func doublesAreBitIdentical() throws {
        let values: [Double] = [0.1, 1e300, -0.0, .leastNonzeroMagnitude, 2.2250738585072014e-308, 0.30000000000000004, 1e23, 9007199254740992]
        for value in values {
            let decoded = try PayloadJSON.decode(Double.self, from: Array(try JSONEncoder().encode(value)))
            #expect(decoded.bitPattern == value.bitPattern, "\(value)")
        }
        for text in ["1e-400", "1e400", "-1e400", "0e5000", "1.0", "1.5e3", "123456789012345678901234567890"] {
            let foundation = try? JSONDecoder().decode(Double.self, from: Data(text.utf8))
            let fast = try? PayloadJSON.decode(Double.self, from: Array(text.utf8))
            if let fast { #expect(fast.bitPattern == foundation?.bitPattern, "\(text)") }
        }
    }

    @Test func integersOnlyFromIntegerLiterals() throws {
        #expect(try PayloadJSON.decode(Int8.self, from: Array("-128".utf8)) == -128)
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Int8.self, from: Array("128".utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Int.self, from: Array("1.0".utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Int.self, from: Array("1e2".utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(UInt.self, from: Array("-1".utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) {
            try PayloadJSON.decode(UInt64.self, from: Array("18446744073709551616".utf8))
        }
    }

    @Test func stringEscapesDecode() throws {
        let json = #"["\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00\u0000"]"#
        #expect(try PayloadJSON.decode([String].self, from: Array(json.utf8))
            == (try JSONDecoder().decode([String].self, from: Data(json.utf8))))
        for bad in [#""\ud83d""#, #""\ude00""#, #""\x""#, "\"a\u{1}\"", #""\u12""#] {
            #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(String.self, from: Array(bad.utf8)) }
        }
        #expect(throws: PayloadJSON.Unsupported.self) {
            try PayloadJSON.decode(String.self, from: [0x22, 0xC3, 0x28, 0x22])
        }
    }

    struct MaybeName: Codable, Equatable { var name: String? }

    @Test func missingAndNullKeys() throws {
        #expect(try PayloadJSON.decode(MaybeName.self, from: Array("{}".utf8)) == MaybeName(name: nil))
        #expect(try PayloadJSON.decode(MaybeName.self, from: Array(#"{"name":null}"#.utf8)) == MaybeName(name: nil))
        #expect(try PayloadJSON.decode(MaybeName.self, from: Array(#" { "name" : "x" } "#.utf8)) == MaybeName(name: "x"))
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Tick.self, from: Array(#"{"n":null}"#.utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Tick.self, from: Array(#"{"n":1,"n":2}"#.utf8)) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Tick.self, from: Array(#"{"n":1} x"#.utf8)) }
    }

    struct Special: Codable, Equatable {
        var date = Date(timeIntervalSince1970: 1_700_000_000.25)
        var data = Data([0, 1, 2, 255])
        var url = URL(string: "https://example.com/a?b=c")!
        var decimal = Decimal(string: "3.14159265358979323846")!
    }

    struct SpecialJob: JobParameters, Equatable {
        static let jobName = "special"
        var special = Special()
        var dictionary: [Bool: Int] = [true: 1]
    }

    @Test func foundationSpecialTypesFallBack() throws {
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.encode(Special()) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.encode([true: 1]) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.encode(Double.nan) }
        let foundation = Array(try JSONEncoder().encode(Special()))
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Special.self, from: foundation) }
        let envelope = try JobEnvelope.make(SpecialJob())
        // Foundation's own output (its key order can differ between two runs of its encoder)
        #expect(try JSONDecoder().decode(SpecialJob.self, from: Data(envelope.payload)) == SpecialJob())
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(SpecialJob.self, from: envelope.payload) }
        #expect(try envelope.decodePayload(as: SpecialJob.self) == SpecialJob())
        #expect(try envelope.decodePayload(as: SpecialJob.self)
            == (try JSONDecoder().decode(SpecialJob.self, from: Data(envelope.payload))))
    }

    @Test func onlyTypesThatPassedAreRemembered() throws {
        var types = PayloadJSON.SupportedTypes()
        for _ in 0..<2 {
            try types.check(SpecialJob.self)
            try types.check([String: Int].self)
            #expect(throws: PayloadJSON.Unsupported.self) { try types.check(Date.self) }
            #expect(throws: PayloadJSON.Unsupported.self) { try types.check([Bool: Int].self) }
        }
        // the kept encoder remembers too: a Date met again still goes to Foundation
        for _ in 0..<2 {
            _ = try PayloadJSON.encode(Tick(n: 1))
            #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.encode(Special()) }
        }
    }

    struct Strict: JobParameters, Equatable {
        static let jobName = "strict"
        var count: UInt8
        var name: String
    }

    @Test(arguments: [
        #"{"count":1}"#, #"{"count":300,"name":"x"}"#, #"{"count":1.5,"name":"x"}"#, #"{"count":1,"name":null}"#,
        #"{"count":1,"name":2}"#, "[1]", "", "{", #"{"count":01,"name":"x"}"#, #"{"count":1,"name":"x"} 1"#,
    ])
    func errorsAreFoundations(payload: String) throws {
        let envelope = JobEnvelope(type: Strict.jobName, payload: Array(payload.utf8))
        var foundation: String?
        do {
            _ = try JSONDecoder().decode(Strict.self, from: Data(payload.utf8))
        } catch {
            foundation = "payload of job \(envelope.id) (type \"strict\") does not decode as \(Strict.self): "
                + "\(JobEnvelope.summary(of: error)); make producer and handler agree"
        }
        #expect(foundation != nil)
        #expect {
            _ = try envelope.decodePayload(as: Strict.self)
        } throws: { error in
            (error as? SpoolError)?.message == foundation && (error as? SpoolError)?.underlying is DecodingError
        }
    }

    @Test func makeUsesTheFastEncoder() throws {
        let envelope = try JobEnvelope.make(Strict(count: 7, name: "x\"y"))
        #expect(envelope.payload == Array(#"{"count":7,"name":"x\"y"}"#.utf8))
        #expect(try envelope.decodePayload(as: Strict.self) == Strict(count: 7, name: "x\"y"))
    }

    // MARK: the encoder kept per thread

    /// Where ``Keeper`` leaves its container.
    final class KeptContainer: @unchecked Sendable {
        // @unchecked: written and read by one test, on its own task
        var container: KeyedEncodingContainer<AnyKey>?
    }

    /// A payload type that keeps its container past `encode(to:)`.
    struct Keeper: Encodable {
        let box: KeptContainer
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            try container.encode(1, forKey: AnyKey(stringValue: "kept"))
            box.container = container
        }
    }

    /// A payload type that encodes another payload inside its own `encode(to:)`.
    struct Wrapper: Encodable {
        let inner: Inner
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: AnyKey.self)
            let json = try PayloadJSON.encode(inner)
            try container.encode(String(decoding: json, as: UTF8.self), forKey: AnyKey(stringValue: "json"))
            try container.encode(inner.name, forKey: AnyKey(stringValue: "name"))
        }
    }

    @Test func keptEncodersStartEachPayloadClean() throws {
        let inner = Inner(name: "n", tags: ["a", "b"])
        let expected = Array(#"{"name":"n","tags":["a","b"]}"#.utf8)
        // a fast-path failure part-way (a Date goes to Foundation) leaves nothing behind
        struct Dated: Encodable { let n = 1; let at = Date(timeIntervalSince1970: 0) }
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.encode(Dated()) }
        #expect(try PayloadJSON.encode(inner) == expected)
        // a container kept past `encode(to:)` keeps its encoder from being reused, so a late
        // write to it never reaches another payload
        let box = KeptContainer()
        #expect(try PayloadJSON.encode(Keeper(box: box)) == Array(#"{"kept":1}"#.utf8))
        #expect(try PayloadJSON.encode(inner) == expected)
        try? box.container?.encode(2, forKey: AnyKey(stringValue: "late"))
        #expect(try PayloadJSON.encode(inner) == expected)
        // an encode inside an encode
        #expect(try PayloadJSON.encode(Wrapper(inner: inner)) == Array(#"{"json":"{\"name\":\"n\",\"tags\":[\"a\",\"b\"]}","name":"n"}"#.utf8))
        #expect(try PayloadJSON.encode(inner) == expected)
    }

    /// A payload type that keeps its decoder past `init(from:)`.
    final class KeptDecoder: @unchecked Sendable {
        // @unchecked: written and read by one test, on its own task
        var decoder: (any Decoder)?
    }

    struct DecoderKeeper: Decodable {
        let n: Int
        init(from decoder: any Decoder) throws {
            n = try decoder.container(keyedBy: AnyKey.self).decode(Int.self, forKey: AnyKey(stringValue: "n"))
            Self.box.decoder = decoder
        }
        nonisolated(unsafe) static var box = KeptDecoder()
    }

    /// A payload type that decodes another payload inside its own `init(from:)`.
    struct Unwrapper: Decodable {
        let inner: Inner
        init(from decoder: any Decoder) throws {
            let json = try decoder.container(keyedBy: AnyKey.self).decode(String.self, forKey: AnyKey(stringValue: "json"))
            inner = try PayloadJSON.decode(Inner.self, from: Array(json.utf8))
        }
    }

    @Test func keptDecodersStartEachPayloadClean() throws {
        let inner = Inner(name: "n", tags: ["a", "b"])
        let json = Array(#"{"name":"n","tags":["a","b"]}"#.utf8)
        // a failure part-way (a missing key) leaves nothing behind
        #expect(throws: PayloadJSON.Unsupported.self) { try PayloadJSON.decode(Inner.self, from: Array(#"{"name":"n"}"#.utf8)) }
        #expect(try PayloadJSON.decode(Inner.self, from: json) == inner)
        // a decoder kept past `init(from:)` is not reused: it still reads its own payload
        #expect(try PayloadJSON.decode(DecoderKeeper.self, from: Array(#"{"n":7}"#.utf8)).n == 7)
        #expect(try PayloadJSON.decode(Inner.self, from: json) == inner)
        let kept = try DecoderKeeper.box.decoder?.container(keyedBy: AnyKey.self).decode(Int.self, forKey: AnyKey(stringValue: "n"))
        #expect(kept == 7)
        DecoderKeeper.box.decoder = nil
        // a decode inside a decode, then a longer payload than any before on this thread
        #expect(try PayloadJSON.decode(Unwrapper.self, from: Array(#"{"json":"{\"name\":\"n\",\"tags\":[\"a\",\"b\"]}"}"#.utf8)).inner == inner)
        let long = Inner(name: String(repeating: "x", count: 3000), tags: (0..<500).map { "\($0)" })
        #expect(try PayloadJSON.decode(Inner.self, from: Array(try JSONEncoder().encode(long))) == long)
        #expect(try PayloadJSON.decode(Inner.self, from: json) == inner)
    }

    @Test func encodesAndDecodesConcurrently() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<500 {
                        let inner = Inner(name: "\(task)-\(index)", tags: Array(repeating: "t", count: index % 7))
                        let fast = try PayloadJSON.encode(inner)
                        let tags = inner.tags.map { "\"\($0)\"" }.joined(separator: ",")
                        #expect(fast == Array("{\"name\":\"\(inner.name)\",\"tags\":[\(tags)]}".utf8))
                        // Foundation writes keys in no fixed order: compare what it reads back
                        #expect(try JSONDecoder().decode(Inner.self, from: Data(fast)) == inner)
                        #expect(try PayloadJSON.decode(Inner.self, from: fast) == inner)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    // MARK: fuzz

    /// A mirror of any JSON document as a Codable type.
    indirect enum Mirror: Codable, Equatable {
        case null, bool(Bool), int(Int), double(Double), string(String), array([Mirror]), object([String: Mirror])

        init(from decoder: any Decoder) throws {
            if var array = try? decoder.unkeyedContainer() {
                var elements: [Mirror] = []
                while !array.isAtEnd { elements.append(try array.decode(Mirror.self)) }
                #expect(array.count == elements.count && array.currentIndex == elements.count)
                self = .array(elements)
            } else if let object = try? decoder.container(keyedBy: AnyKey.self) {
                var members: [String: Mirror] = [:]
                for key in object.allKeys {
                    #expect(object.contains(key))
                    members[key.stringValue] = try object.decode(Mirror.self, forKey: key)
                }
                self = .object(members)
            } else {
                let value = try decoder.singleValueContainer()
                if value.decodeNil() {
                    self = .null
                } else if let bool = try? value.decode(Bool.self) {
                    self = .bool(bool)
                } else if let int = try? value.decode(Int.self) {
                    self = .int(int)
                } else if let double = try? value.decode(Double.self) {
                    self = .double(double)
                } else {
                    self = .string(try value.decode(String.self))
                }
            }
        }

        func encode(to encoder: any Encoder) throws {
            var value = encoder.singleValueContainer()
            switch self {
            case .null: try value.encodeNil()
            case .bool(let bool): try value.encode(bool)
            case .int(let int): try value.encode(int)
            case .double(let double): try value.encode(double)
            case .string(let string): try value.encode(string)
            case .array(let array): try value.encode(array)
            case .object(let object): try value.encode(object)
            }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue _: Int) { nil }
    }

    /// A random JSON text, sometimes slightly broken.
    private func document(_ random: inout SplitMix64, depth: Int = 0) -> String {
        let pieces = ["a", "ü", "😀", "\\n", "\\u00e9", "\\\"", " ", "\\ud83d\\ude00", "\\u0000", "x y"]
        func string() -> String {
            "\"" + (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }
                .joined() + "\""
        }
        let numbers = ["0", "-1", "42", "1.5", "-0.0", "1e3", "2E-2", "9223372036854775807", "9223372036854775808",
                       "-9223372036854775808", "0.1", "1e400", "1e-400", "5e-324", "01", "1.", "-", "3.0"]
        switch Int.random(in: 0..<(depth > 3 ? 5 : 8), using: &random) {
        case 0: return ["null", "true", "false", "nul"].randomElement(using: &random)!
        case 1, 2: return numbers.randomElement(using: &random)!
        case 3, 4: return string()
        case 5: return "[" + (0..<Int.random(in: 0...4, using: &random))
            .map { _ in document(&random, depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let keys = ["a", "b", "c", "k\\u0041", "é"]
            return "{" + (0..<Int.random(in: 0...4, using: &random))
                .map { _ in "\"\(keys.randomElement(using: &random)!)\" : \(document(&random, depth: depth + 1))" }
                .joined(separator: " ,\n") + "}"
        }
    }

    @Test func randomDocumentsDecodeAlike() throws {
        var random = SplitMix64(seed: 0x5eed)
        var fastSucceeded = 0
        for _ in 0..<3000 {
            let text = document(&random)
            let foundation = try? JSONDecoder().decode(Mirror.self, from: Data(text.utf8))
            guard let fast = try? PayloadJSON.decode(Mirror.self, from: Array(text.utf8)) else { continue }
            fastSucceeded += 1
            #expect(fast == foundation, "\(text)")
            let encoded = try PayloadJSON.encode(fast)
            #expect(try JSONDecoder().decode(Mirror.self, from: Data(encoded)) == fast, "\(text)")
        }
        // the fast path must actually be exercised, not fall back every time
        #expect(fastSucceeded > 1000)
    }
}
