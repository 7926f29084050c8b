import Foundation
import SpoolRedis

/// A fast JSON encoder and decoder for job payloads, in front of Foundation's.
///
/// The rule that keeps it safe: the fast path either succeeds with what Foundation's
/// `JSONEncoder`/`JSONDecoder` would produce, or throws ``Unsupported``, and the caller then runs
/// Foundation, which produces the real result or the real, user-facing error. For the encoder,
/// "what Foundation would produce" means the same JSON value, not the same bytes: members come
/// in the order `encode(to:)` writes them (Foundation's order varies), and `/` is written as is
/// (Foundation writes `\/`); any JSON reader, Foundation's included, reads both alike. So every type
/// Foundation special-cases (`Date`, `Data`, `URL`, `Decimal`, dictionaries with other keys than
/// `String`/`Int`), every value it might treat specially (non-finite floats), and every error
/// at all is ``Unsupported`` here; the fast decoder only has to be right when it succeeds.
enum PayloadJSON {
    /// Thrown whenever the fast path cannot be sure to match Foundation: fall back to it.
    struct Unsupported: Error {}

    /// The most members an object may have for the fast decoder: its key lookups are linear
    /// scans, so a large dictionary goes to Foundation's hashed lookups instead.
    static let maxObjectMembers = 64
    /// The deepest nesting the fast decoder parses (Foundation's own limit is 512).
    static let maxDepth = 128

    /// Encodes `value` as JSON bytes.
    static func encode<T: Encodable>(_ value: T) throws(Unsupported) -> [UInt8] {
        var encoder: PayloadJSONEncoder? = PayloadJSONEncoder.slot.take() ?? PayloadJSONEncoder()
        var encoded: [UInt8]?
        do {
            try encoder!.encodeValue(value)
            if !encoder!.failed && encoder!.frames.isEmpty { encoded = encoder!.takeBytes() }
        } catch {}
        PayloadJSONEncoder.cache(&encoder)
        guard let encoded else { throw Unsupported() }
        return encoded
    }

    /// Decodes `T` from JSON bytes.
    static func decode<T: Decodable>(_: T.Type, from bytes: [UInt8]) throws(Unsupported) -> T {
        var decoder: PayloadJSONDecoder? = PayloadJSONDecoder.slot.take() ?? PayloadJSONDecoder()
        var value: T?
        do {
            try decoder!.start(bytes)
            let decoded = try decoder!.decodeValue(T.self, at: 0, key: nil)
            if !decoder!.failed { value = decoded }
        } catch {}
        PayloadJSONDecoder.cache(&decoder)
        guard let value else { throw Unsupported() }
        return value
    }

    /// Throws for the types Foundation's JSON coders treat specially.
    static func checkSupported<T>(_: T.Type) throws(Unsupported) {
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self
            || T.self == Int128.self || T.self == UInt128.self {
            throw Unsupported()
        }
        if let dictionary = T.self as? any PayloadJSONDictionary.Type, !dictionary.hasStringOrIntKeys {
            throw Unsupported()
        }
    }

    /// The types ``checkSupported(_:)`` passed, for one encoder or decoder (kept per thread).
    ///
    /// The check depends on the type alone, but its dynamic cast looks the type's conformance
    /// up in the runtime's cache on every call: about 2% of a batch push's samples in `perf`
    /// for a one-field job. Payloads keep coming in the same few types, so a small set of
    /// the types that passed answers instead.
    struct SupportedTypes {
        private var passed: Set<ObjectIdentifier> = []
        /// Past this many types (a payload of many nested types), the set starts over.
        private static let capacity = 32

        /// ``PayloadJSON/checkSupported(_:)``, answered from the set when `T` passed before.
        mutating func check<T>(_: T.Type) throws(Unsupported) {
            let type = ObjectIdentifier(T.self)
            if passed.contains(type) { return }
            try PayloadJSON.checkSupported(T.self)
            if passed.count >= Self.capacity { passed.removeAll(keepingCapacity: true) }
            passed.insert(type)
        }
    }

    /// Whether `string`'s UTF-8 equals `bytes[range]`.
    static func equals(_ string: String, _ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        var string = string
        return string.withUTF8 { utf8 in
            guard utf8.count == range.count else { return false }
            var offset = range.lowerBound
            for byte in utf8 {
                if byte != bytes[offset] { return false }
                offset += 1
            }
            return true
        }
    }
}

/// Lets the coders tell dictionaries with `String` or `Int` keys (encoded as JSON objects by the
/// standard library, handled here) from the others (left to Foundation).
protocol PayloadJSONDictionary {
    static var hasStringOrIntKeys: Bool { get }
}

extension Dictionary: PayloadJSONDictionary {
    static var hasStringOrIntKeys: Bool { Key.self == String.self || Key.self == Int.self }
}

/// The coding key of an array element in a coding path.
struct PayloadJSONIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }

    init(intValue: Int) {
        self.intValue = intValue
    }

    init?(stringValue _: String) {
        return nil
    }
}

// MARK: - Encoding

/// Writes JSON straight into a byte buffer as `encode(to:)` calls arrive.
///
/// Containers are frames on a stack; a write to a container closes the nested containers opened
/// above it (`nestedContainer`), and the container a value opened is closed when its
/// `encode(to:)` returns. Anything out of that order (writing to a container after a sibling
/// took its place, a second container for one value, `superEncoder`) sets ``failed`` and the
/// whole encoding goes to Foundation.
final class PayloadJSONEncoder: Encoder {
    enum Kind {
        case keyed, unkeyed, single
    }

    /// One open container.
    struct Frame {
        var kind: Kind
        var id: Int
        /// Members or elements written so far.
        var count = 0
        /// Where this container's keys start in ``keys``.
        var keyBase: Int
        /// Opened by the value whose `encode(to:)` is running, not by `nestedContainer`.
        var owned: Bool
        /// Whether opening it pushed a key onto ``path``.
        var pushedKey: Bool
    }

    // `@exclusivity(unchecked)`: Swift checked every access to these properties at run time
    // (begin/end access, a thread-local access set): 12% of `make(Order)`'s samples in `perf`.
    // No access can overlap another. User code runs only in `value.encode(to: self)` and
    // `key.stringValue`, and each is called outside any access to them; every access is a
    // read or a mutation that calls nothing but the standard library. The encoder is used
    // by one call on one thread. `spool-bench micro`: `make(Order)` 8.1-8.7 -> 4.5 µs.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) var frames: [Frame] = []
    /// The keys written by the open keyed containers, to catch a key written twice.
    @exclusivity(unchecked) var keys: [String] = []
    @exclusivity(unchecked) var path: [any CodingKey] = []
    @exclusivity(unchecked) var failed = false
    /// Kept across payloads: it depends on the types alone.
    @exclusivity(unchecked) private var supportedTypes = PayloadJSON.SupportedTypes()
    /// The frame index the value being encoded opens its container at.
    @exclusivity(unchecked) private var valueLevel = 0
    @exclusivity(unchecked) private var nextID = 0

    init() {
        bytes.reserveCapacity(Self.initialCapacity)
        frames.reserveCapacity(8)
    }

    private static let initialCapacity = 128

    /// The encoded bytes; the encoder starts a new buffer for its next use.
    func takeBytes() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &bytes)
        return taken
    }

    // MARK: - One encoder kept per thread
    //
    // An encoder is three allocations besides the bytes it returns (itself, its frames, its
    // keys). Encoding runs without suspending, so it begins and ends on one thread: each thread
    // keeps its last encoder for the next payload, emptied. A nested encode (a payload type's
    // `encode(to:)` encoding another payload) finds the slot empty and makes its own.

    /// This thread's kept encoder.
    static let slot = ThreadSlot<PayloadJSONEncoder>()

    /// Keeps `encoder` for this thread's next encode (and sets `encoder` to `nil`), unless
    /// something else still holds it (a container a payload type kept: it must never write
    /// into another payload), it grew large, or the slot is taken.
    static func cache(_ encoder: inout PayloadJSONEncoder?) {
        guard isKnownUniquelyReferenced(&encoder), let kept = encoder else { return }
        encoder = nil
        guard kept.frames.capacity <= 64, kept.keys.capacity <= 256, kept.path.capacity <= 64,
              Self.slot.isEmpty else { return }
        kept.frames.removeAll(keepingCapacity: true)
        kept.keys.removeAll(keepingCapacity: true)
        kept.path.removeAll(keepingCapacity: true)
        kept.failed = false
        kept.valueLevel = 0
        // `nextID` keeps counting: a frame reference from an earlier payload never matches
        kept.bytes = []
        kept.bytes.reserveCapacity(initialCapacity)
        Self.slot.put(kept)
    }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(PayloadJSONKeyedEncoding<Key>(encoder: self, frame: openOwned(.keyed)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        PayloadJSONUnkeyedEncoding(encoder: self, frame: openOwned(.unkeyed))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        PayloadJSONSingleValueEncoding(encoder: self, frame: openOwned(.single))
    }

    /// A frame reference: its stack index and id, `(-1, -1)` for one that could not be opened.
    typealias FrameRef = (level: Int, id: Int, depth: Int)

    /// Opens the container of the value being encoded; a second one for the same value fails.
    private func openOwned(_ kind: Kind) -> FrameRef {
        guard frames.count == valueLevel else {
            failed = true
            return (-1, -1, path.count)
        }
        return push(kind, owned: true, key: nil)
    }

    /// Opens a container for `nestedContainer`/`nestedUnkeyedContainer`, under `key`.
    func openNested(_ kind: Kind, key: any CodingKey) -> FrameRef {
        push(kind, owned: false, key: key)
    }

    private func push(_ kind: Kind, owned: Bool, key: (any CodingKey)?) -> FrameRef {
        if let key { path.append(key) }
        nextID += 1
        frames.append(Frame(kind: kind, id: nextID, keyBase: keys.count, owned: owned, pushedKey: key != nil))
        switch kind {
        case .keyed: bytes.append(UInt8(ascii: "{"))
        case .unkeyed: bytes.append(UInt8(ascii: "["))
        case .single: break
        }
        return (frames.count - 1, nextID, path.count)
    }

    private func closeTop() {
        let frame = frames.removeLast()
        switch frame.kind {
        case .keyed:
            bytes.append(UInt8(ascii: "}"))
            keys.removeSubrange(frame.keyBase...)
        case .unkeyed:
            bytes.append(UInt8(ascii: "]"))
        case .single:
            if frame.count == 0 { failed = true }
        }
        if frame.pushedKey { path.removeLast() }
    }

    /// Makes `frame` the innermost open container, closing nested ones above it; throws if it
    /// is no longer open or a value's own container is above it.
    func prepare(_ frame: FrameRef) throws(PayloadJSON.Unsupported) {
        guard !failed, frame.level >= 0, frame.level < frames.count, frames[frame.level].id == frame.id else {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        while frames.count > frame.level + 1 {
            guard !frames[frames.count - 1].owned else {
                failed = true
                throw PayloadJSON.Unsupported()
            }
            closeTop()
        }
    }

    /// Starts the next member of the keyed container `frame`: comma, key, colon.
    func beginMember(_ frame: FrameRef, _ key: some CodingKey) throws(PayloadJSON.Unsupported) {
        try prepare(frame)
        let name = key.stringValue
        // Foundation keeps one value per key (String equality, so canonically equivalent
        // spellings collide too); which one it keeps is its business.
        for index in frames[frame.level].keyBase..<keys.count where keys[index] == name {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        keys.append(name)
        if frames[frame.level].count > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[frame.level].count += 1
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Starts the next element of the unkeyed container `frame`; returns its index.
    func beginElement(_ frame: FrameRef) throws(PayloadJSON.Unsupported) -> Int {
        try prepare(frame)
        let index = frames[frame.level].count
        if index > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[frame.level].count += 1
        return index
    }

    /// Starts the one value of the single-value container `frame`.
    func beginSingle(_ frame: FrameRef) throws(PayloadJSON.Unsupported) {
        try prepare(frame)
        guard frames[frame.level].count == 0 else {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        frames[frame.level].count = 1
    }

    /// Encodes any value at the current position: primitives directly, others through their
    /// `encode(to:)`, whose container is closed when it returns.
    func encodeValue<T: Encodable>(_ value: T) throws {
        if T.self == String.self, let string = value as? String {
            writeString(string)
            return
        }
        if T.self == Int.self, let int = value as? Int {
            writeInteger(Int64(int))
            return
        }
        if T.self == Bool.self, let bool = value as? Bool {
            writeBool(bool)
            return
        }
        if T.self == Double.self, let double = value as? Double {
            try writeFloat(double)
            return
        }
        // A type's `encode(to:)` may catch an error and go on, so every error here also sets
        // `failed`, which discards the result.
        do {
            try supportedTypes.check(T.self)
        } catch {
            failed = true
            throw error
        }
        guard !failed, path.count < PayloadJSON.maxDepth else {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        let outerLevel = valueLevel
        valueLevel = frames.count
        defer { valueLevel = outerLevel }
        try value.encode(to: self)
        // A value that encoded nothing is an error at the top level and `{}` below it in
        // Foundation: leave both to it.
        guard frames.count > valueLevel, frames[valueLevel].owned else {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        while frames.count > valueLevel + 1 {
            guard !frames[frames.count - 1].owned else {
                failed = true
                throw PayloadJSON.Unsupported()
            }
            closeTop()
        }
        closeTop()
    }

    func writeNull() {
        bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
    }

    func writeBool(_ value: Bool) {
        if value {
            bytes.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "e")])
        } else {
            bytes.append(contentsOf: [
                UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "e"),
            ])
        }
    }

    /// Writes an integer in decimal, without going through a `String`.
    func writeInteger(_ value: Int64) {
        writeInteger(negative: value < 0, magnitude: value.magnitude)
    }

    /// Writes an integer in decimal, without going through a `String`.
    func writeInteger(_ value: UInt64) {
        writeInteger(negative: false, magnitude: value)
    }

    private func writeInteger(negative: Bool, magnitude: UInt64) {
        // at most 20 digits and a sign, written backwards into scratch space, appended at once
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { scratch in
            var start = DecimalText.write(magnitude, endingAt: 24, in: scratch)
            if negative {
                start -= 1
                scratch[start] = UInt8(ascii: "-")
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[start..<24]))
        }
    }

    /// Writes the shortest representation that reads back as `value`; non-finite values are
    /// Foundation's to reject.
    func writeFloat<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) throws(PayloadJSON.Unsupported) {
        guard value.isFinite else {
            failed = true
            throw PayloadJSON.Unsupported()
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Writes a JSON string literal, escaping per RFC 8259.
    func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                ])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A keyed container of ``PayloadJSONEncoder``: a JSON object.
struct PayloadJSONKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: PayloadJSONEncoder
    let frame: PayloadJSONEncoder.FrameRef

    var codingPath: [any CodingKey] { Array(encoder.path.prefix(frame.depth)) }

    mutating func encodeNil(forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.writeNull()
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.writeBool(value)
    }

    mutating func encode(_ value: String, forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.writeString(value)
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Float, forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Int, forKey key: Key) throws { try integer(Int64(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try integer(Int64(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try integer(Int64(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try integer(Int64(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try integer(UInt64(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try integer(UInt64(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try integer(UInt64(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try integer(UInt64(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try integer(value, key) }

    // concrete integer types: the containers are generic over their key, so a generic
    // integer here would do its arithmetic through witness tables
    private func integer(_ value: Int64, _ key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.writeInteger(value)
    }

    private func integer(_ value: UInt64, _ key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encoder.beginMember(frame, key)
        encoder.path.append(key)
        defer { encoder.path.removeLast() }
        try encoder.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        // on failure `failed` is set, and whatever the nested container writes is discarded
        try? encoder.beginMember(frame, key)
        return KeyedEncodingContainer(PayloadJSONKeyedEncoding<NestedKey>(
            encoder: encoder, frame: encoder.openNested(.keyed, key: key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        try? encoder.beginMember(frame, key)
        return PayloadJSONUnkeyedEncoding(encoder: encoder, frame: encoder.openNested(.unkeyed, key: key))
    }

    mutating func superEncoder() -> any Encoder {
        encoder.failed = true
        return encoder
    }

    mutating func superEncoder(forKey _: Key) -> any Encoder {
        encoder.failed = true
        return encoder
    }
}

/// An unkeyed container of ``PayloadJSONEncoder``: a JSON array.
struct PayloadJSONUnkeyedEncoding: UnkeyedEncodingContainer {
    let encoder: PayloadJSONEncoder
    let frame: PayloadJSONEncoder.FrameRef

    var codingPath: [any CodingKey] { Array(encoder.path.prefix(frame.depth)) }

    var count: Int {
        frame.level >= 0 && frame.level < encoder.frames.count && encoder.frames[frame.level].id == frame.id
            ? encoder.frames[frame.level].count : 0
    }

    mutating func encodeNil() throws {
        _ = try encoder.beginElement(frame)
        encoder.writeNull()
    }

    mutating func encode(_ value: Bool) throws {
        _ = try encoder.beginElement(frame)
        encoder.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        _ = try encoder.beginElement(frame)
        encoder.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        _ = try encoder.beginElement(frame)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Float) throws {
        _ = try encoder.beginElement(frame)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Int) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }

    private func integer(_ value: Int64) throws {
        _ = try encoder.beginElement(frame)
        encoder.writeInteger(value)
    }

    private func integer(_ value: UInt64) throws {
        _ = try encoder.beginElement(frame)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = try encoder.beginElement(frame)
        encoder.path.append(PayloadJSONIndexKey(intValue: index))
        defer { encoder.path.removeLast() }
        try encoder.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy _: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let index = (try? encoder.beginElement(frame)) ?? 0
        return KeyedEncodingContainer(PayloadJSONKeyedEncoding<NestedKey>(
            encoder: encoder, frame: encoder.openNested(.keyed, key: PayloadJSONIndexKey(intValue: index))))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = (try? encoder.beginElement(frame)) ?? 0
        return PayloadJSONUnkeyedEncoding(
            encoder: encoder, frame: encoder.openNested(.unkeyed, key: PayloadJSONIndexKey(intValue: index)))
    }

    mutating func superEncoder() -> any Encoder {
        encoder.failed = true
        return encoder
    }
}

/// A single-value container of ``PayloadJSONEncoder``: exactly one JSON value.
struct PayloadJSONSingleValueEncoding: SingleValueEncodingContainer {
    let encoder: PayloadJSONEncoder
    let frame: PayloadJSONEncoder.FrameRef

    var codingPath: [any CodingKey] { Array(encoder.path.prefix(frame.depth)) }

    mutating func encodeNil() throws {
        try encoder.beginSingle(frame)
        encoder.writeNull()
    }

    mutating func encode(_ value: Bool) throws {
        try encoder.beginSingle(frame)
        encoder.writeBool(value)
    }

    mutating func encode(_ value: String) throws {
        try encoder.beginSingle(frame)
        encoder.writeString(value)
    }

    mutating func encode(_ value: Double) throws {
        try encoder.beginSingle(frame)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Float) throws {
        try encoder.beginSingle(frame)
        try encoder.writeFloat(value)
    }

    mutating func encode(_ value: Int) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int8) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int16) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int32) throws { try integer(Int64(value)) }
    mutating func encode(_ value: Int64) throws { try integer(value) }
    mutating func encode(_ value: UInt) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { try integer(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { try integer(value) }

    private func integer(_ value: Int64) throws {
        try encoder.beginSingle(frame)
        encoder.writeInteger(value)
    }

    private func integer(_ value: UInt64) throws {
        try encoder.beginSingle(frame)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.beginSingle(frame)
        try encoder.encodeValue(value)
    }
}

// MARK: - Decoding

/// One JSON value in the parsed form: its kind and where its text is.
struct PayloadJSONNode {
    enum Kind: UInt8 {
        case null, `true`, `false`, number, string, array, object
    }

    var kind: Kind
    /// Strings: has a backslash escape. Numbers: has a fraction or an exponent.
    var complex = false
    /// Strings and numbers: the text, without the quotes.
    var start: Int
    var end: Int
    /// Arrays: elements; objects: members.
    var count = 0
    /// The index of the node after this value and everything in it.
    var next = 0
}

/// A strict RFC 8259 parser into a flat array of ``PayloadJSONNode``s in document order: an
/// object is followed by its keys and values alternately, an array by its elements.
///
/// Anything it does not accept throws, and Foundation decides; so it is at least as strict as
/// Foundation's scanner: invalid UTF-8 anywhere, lone surrogates, duplicate keys, keys that are
/// not plain ASCII (Swift compares strings by canonical equivalence; bytes only agree with that
/// for ASCII), very large objects and very deep nesting all throw.
struct PayloadJSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var nodes: [PayloadJSONNode] = []

    /// Parses `bytes` into `nodes`, emptied first (its capacity is reused).
    static func parse(_ bytes: [UInt8], into nodes: inout [PayloadJSONNode]) throws(PayloadJSON.Unsupported) {
        nodes.removeAll(keepingCapacity: true)
        // Outside strings valid JSON is ASCII; inside, the bytes must be valid UTF-8.
        if bytes.contains(where: { $0 >= 0x80 }) {
            guard String(validating: bytes, as: UTF8.self) != nil else { throw PayloadJSON.Unsupported() }
        }
        let failure: PayloadJSON.Unsupported? = bytes.withUnsafeBufferPointer { buffer in
            var parser = PayloadJSONParser(bytes: buffer)
            swap(&parser.nodes, &nodes)
            defer { swap(&parser.nodes, &nodes) }
            parser.nodes.reserveCapacity(buffer.count / 3 + 2)
            do throws(PayloadJSON.Unsupported) {
                try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.index == buffer.count else { throw PayloadJSON.Unsupported() }
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek() throws(PayloadJSON.Unsupported) -> UInt8 {
        guard index < bytes.count else { throw PayloadJSON.Unsupported() }
        return bytes[index]
    }

    private mutating func value(depth: Int) throws(PayloadJSON.Unsupported) {
        skipWhitespace()
        switch try peek() {
        case UInt8(ascii: "{"): try object(depth: depth + 1)
        case UInt8(ascii: "["): try array(depth: depth + 1)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true", .true)
        case UInt8(ascii: "f"): try literal("false", .false)
        case UInt8(ascii: "n"): try literal("null", .null)
        default: try number()
        }
    }

    private mutating func literal(_ text: StaticString, _ kind: PayloadJSONNode.Kind) throws(PayloadJSON.Unsupported) {
        let length = text.utf8CodeUnitCount
        guard bytes.count - index >= length else { throw PayloadJSON.Unsupported() }
        for offset in 0..<length where bytes[index + offset] != text.utf8Start[offset] {
            throw PayloadJSON.Unsupported()
        }
        nodes.append(PayloadJSONNode(kind: kind, start: index, end: index + length, next: nodes.count + 1))
        index += length
    }

    private mutating func object(depth: Int) throws(PayloadJSON.Unsupported) {
        guard depth <= PayloadJSON.maxDepth else { throw PayloadJSON.Unsupported() }
        let me = nodes.count
        nodes.append(PayloadJSONNode(kind: .object, start: index, end: index))
        index += 1
        skipWhitespace()
        var count = 0
        if try peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard try peek() == UInt8(ascii: "\"") else { throw PayloadJSON.Unsupported() }
                let key = nodes.count
                try string()
                guard !nodes[key].complex else { throw PayloadJSON.Unsupported() }
                for offset in nodes[key].start..<nodes[key].end where bytes[offset] >= 0x80 {
                    throw PayloadJSON.Unsupported()
                }
                try checkUnique(key: key, in: me)
                skipWhitespace()
                guard try peek() == UInt8(ascii: ":") else { throw PayloadJSON.Unsupported() }
                index += 1
                try value(depth: depth)
                count += 1
                guard count <= PayloadJSON.maxObjectMembers else { throw PayloadJSON.Unsupported() }
                skipWhitespace()
                let separator = try peek()
                index += 1
                if separator == UInt8(ascii: "}") { break }
                guard separator == UInt8(ascii: ",") else { throw PayloadJSON.Unsupported() }
            }
        }
        nodes[me].count = count
        nodes[me].end = index
        nodes[me].next = nodes.count
    }

    /// Throws if an earlier key of the object at `object` has the same bytes as `key`.
    private func checkUnique(key: Int, in object: Int) throws(PayloadJSON.Unsupported) {
        let new = nodes[key]
        var other = object + 1
        while other < key {
            let old = nodes[other]
            if old.end - old.start == new.end - new.start {
                var same = true
                for offset in 0..<(new.end - new.start) where bytes[old.start + offset] != bytes[new.start + offset] {
                    same = false
                    break
                }
                if same { throw PayloadJSON.Unsupported() }
            }
            other = nodes[other + 1].next
        }
    }

    private mutating func array(depth: Int) throws(PayloadJSON.Unsupported) {
        guard depth <= PayloadJSON.maxDepth else { throw PayloadJSON.Unsupported() }
        let me = nodes.count
        nodes.append(PayloadJSONNode(kind: .array, start: index, end: index))
        index += 1
        skipWhitespace()
        var count = 0
        if try peek() == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                try value(depth: depth)
                count += 1
                skipWhitespace()
                let separator = try peek()
                index += 1
                if separator == UInt8(ascii: "]") { break }
                guard separator == UInt8(ascii: ",") else { throw PayloadJSON.Unsupported() }
            }
        }
        nodes[me].count = count
        nodes[me].end = index
        nodes[me].next = nodes.count
    }

    private mutating func string() throws(PayloadJSON.Unsupported) {
        index += 1
        let start = index
        var escaped = false
        while true {
            let byte = try peek()
            switch byte {
            case UInt8(ascii: "\""):
                nodes.append(PayloadJSONNode(
                    kind: .string, complex: escaped, start: start, end: index, next: nodes.count + 1))
                index += 1
                return
            case 0x00..<0x20:
                throw PayloadJSON.Unsupported()
            case UInt8(ascii: "\\"):
                escaped = true
                index += 1
                switch try peek() {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    let unit = try hex4()
                    if (0xDC00...0xDFFF).contains(unit) { throw PayloadJSON.Unsupported() }
                    if (0xD800...0xDBFF).contains(unit) {
                        guard try peek() == UInt8(ascii: "\\") else { throw PayloadJSON.Unsupported() }
                        index += 1
                        guard try peek() == UInt8(ascii: "u") else { throw PayloadJSON.Unsupported() }
                        index += 1
                        guard (0xDC00...0xDFFF).contains(try hex4()) else { throw PayloadJSON.Unsupported() }
                    }
                default:
                    throw PayloadJSON.Unsupported()
                }
            default:
                index += 1
            }
        }
    }

    /// Reads four hex digits.
    private mutating func hex4() throws(PayloadJSON.Unsupported) -> UInt16 {
        guard bytes.count - index >= 4 else { throw PayloadJSON.Unsupported() }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            guard let digit = PayloadJSONDecoder.hexValue(bytes[index]) else { throw PayloadJSON.Unsupported() }
            unit = unit << 4 | UInt16(digit)
            index += 1
        }
        return unit
    }

    /// `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`
    private mutating func number() throws(PayloadJSON.Unsupported) {
        let start = index
        var complex = false
        if try peek() == UInt8(ascii: "-") { index += 1 }
        let first = try peek()
        if first == UInt8(ascii: "0") {
            index += 1
        } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
            digits()
        } else {
            throw PayloadJSON.Unsupported()
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            complex = true
            index += 1
            guard digits() > 0 else { throw PayloadJSON.Unsupported() }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            complex = true
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard digits() > 0 else { throw PayloadJSON.Unsupported() }
        }
        nodes.append(PayloadJSONNode(kind: .number, complex: complex, start: start, end: index, next: nodes.count + 1))
    }

    @discardableResult
    private mutating func digits() -> Int {
        let start = index
        while index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") {
            index += 1
        }
        return index - start
    }
}

/// Decodes values from parsed ``PayloadJSONNode``s.
///
/// One instance serves the whole document: ``current`` is the node the value being decoded
/// starts at, set around each `init(from:)`. Errors are all ``PayloadJSON/Unsupported``.
/// A type's `init(from:)` may catch an error and go on (`try?`), so only errors Foundation
/// throws too (wrong kind of value, missing key, null, end of array) are plain; wherever
/// Foundation might succeed, ``unsure()`` also sets ``failed``, which discards the result.
final class PayloadJSONDecoder: Decoder {
    // `@exclusivity(unchecked)`, as in ``PayloadJSONEncoder``: user code runs only in
    // `T(from: self)`, called outside any access to these properties.
    @exclusivity(unchecked) private(set) var bytes: [UInt8] = []
    @exclusivity(unchecked) private(set) var nodes: [PayloadJSONNode] = []
    @exclusivity(unchecked) var current = 0
    @exclusivity(unchecked) var path: [any CodingKey] = []
    @exclusivity(unchecked) var failed = false
    /// Kept across payloads: it depends on the types alone.
    @exclusivity(unchecked) private var supportedTypes = PayloadJSON.SupportedTypes()

    init() {}

    /// Parses `bytes` for decoding from its first node.
    func start(_ bytes: [UInt8]) throws(PayloadJSON.Unsupported) {
        self.bytes = bytes
        try PayloadJSONParser.parse(bytes, into: &nodes)
    }

    // MARK: - One decoder kept per thread (as ``PayloadJSONEncoder``'s)

    /// This thread's kept decoder.
    static let slot = ThreadSlot<PayloadJSONDecoder>()

    /// Keeps `decoder`, emptied, for this thread's next payload (and sets `decoder` to `nil`),
    /// unless something else still holds it (a container a payload type kept), its node list
    /// grew large, or the slot is taken.
    static func cache(_ decoder: inout PayloadJSONDecoder?) {
        guard isKnownUniquelyReferenced(&decoder), let kept = decoder else { return }
        decoder = nil
        // 512 nodes (40 bytes each, 20 KB a thread at most) serve payloads up to about 1.5 KB
        guard kept.nodes.capacity <= 512, kept.path.capacity <= 64, Self.slot.isEmpty else { return }
        kept.bytes = []
        kept.nodes.removeAll(keepingCapacity: true)
        kept.path.removeAll(keepingCapacity: true)
        kept.current = 0
        kept.failed = false
        Self.slot.put(kept)
    }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The error for a case Foundation might decode: it also makes the whole decoding fail.
    func unsure() -> PayloadJSON.Unsupported {
        failed = true
        return PayloadJSON.Unsupported()
    }

    func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try keyedContainer(at: current, base: .depth(path.count))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try unkeyedContainer(at: current, base: .depth(path.count))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        PayloadJSONSingleValueDecoding(decoder: self, node: current, depth: path.count)
    }

    func keyedContainer<Key: CodingKey>(at node: Int, base: PayloadJSONPathBase) throws -> KeyedDecodingContainer<Key> {
        guard nodes[node].kind == .object else { throw PayloadJSON.Unsupported() }
        return KeyedDecodingContainer(PayloadJSONKeyedDecoding<Key>(decoder: self, object: node, base: base))
    }

    func unkeyedContainer(at node: Int, base: PayloadJSONPathBase) throws -> any UnkeyedDecodingContainer {
        guard nodes[node].kind == .array else { throw PayloadJSON.Unsupported() }
        return PayloadJSONUnkeyedDecoding(decoder: self, array: node, base: base)
    }

    /// Decodes `T` from the value at `node`, reached by `key` (nil: the same path).
    func decodeValue<T: Decodable>(_: T.Type, at node: Int, key: (any CodingKey)?) throws -> T {
        if T.self == String.self, let value = try string(at: node) as? T { return value }
        if T.self == Int.self, let value = try integer(Int.self, at: node) as? T { return value }
        if T.self == Bool.self, let value = try bool(at: node) as? T { return value }
        if T.self == Double.self, let value = try float(Double.self, at: node) as? T { return value }
        do {
            try supportedTypes.check(T.self)
        } catch {
            throw unsure()
        }
        if let key { path.append(key) }
        let outer = current
        current = node
        defer {
            current = outer
            if key != nil { path.removeLast() }
        }
        return try T(from: self)
    }

    /// Decodes `T` at `node` with `base` + `key` as the coding path (a nested container's values).
    func decodeValue<T: Decodable>(_ type: T.Type, at node: Int, base: PayloadJSONPathBase, key: any CodingKey) throws -> T {
        guard case .nested(let prefix) = base else { return try decodeValue(type, at: node, key: key) }
        let outer = path
        path = prefix
        defer { path = outer }
        return try decodeValue(type, at: node, key: key)
    }

    func isNull(_ node: Int) -> Bool { nodes[node].kind == .null }

    func bool(at node: Int) throws(PayloadJSON.Unsupported) -> Bool {
        switch nodes[node].kind {
        case .true: return true
        case .false: return false
        default: throw PayloadJSON.Unsupported()
        }
    }

    func string(at node: Int) throws(PayloadJSON.Unsupported) -> String {
        let value = nodes[node]
        guard value.kind == .string else { throw PayloadJSON.Unsupported() }
        // the parser validated the UTF-8 of the whole document, so decoding repairs nothing
        guard value.complex else { return String(decoding: bytes[value.start..<value.end], as: UTF8.self) }
        var utf8: [UInt8] = []
        utf8.reserveCapacity(value.end - value.start)
        var index = value.start
        while index < value.end {
            let byte = bytes[index]
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                continue
            }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4(at: index))
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    // the parser checked that a low surrogate escape follows
                    let low = UInt32(try hex4(at: index + 2))
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw unsure() }
                utf8.append(contentsOf: UTF8.encode(unicode)!)
            default:
                utf8.append(escape)
            }
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    private func hex4(at index: Int) throws(PayloadJSON.Unsupported) -> UInt16 {
        var unit: UInt16 = 0
        for offset in 0..<4 {
            guard let digit = Self.hexValue(bytes[index + offset]) else { throw PayloadJSON.Unsupported() }
            unit = unit << 4 | UInt16(digit)
        }
        return unit
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// An integer literal's sign and magnitude; throws for fractions, exponents, `-0` and
    /// magnitudes beyond `UInt64`.
    private func integerLiteral(at node: Int) throws(PayloadJSON.Unsupported) -> (negative: Bool, magnitude: UInt64) {
        let value = nodes[node]
        guard value.kind == .number else { throw PayloadJSON.Unsupported() }
        // Foundation decodes "1.0" or "1e2" as integers
        guard !value.complex else { throw unsure() }
        var index = value.start
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var magnitude: UInt64 = 0
        while index < value.end {
            let (shifted, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw unsure() }
            magnitude = sum
            index += 1
        }
        guard !(negative && magnitude == 0) else { throw unsure() }
        return (negative, magnitude)
    }

    func integer<T: FixedWidthInteger>(_: T.Type, at node: Int) throws(PayloadJSON.Unsupported) -> T {
        let (negative, magnitude) = try integerLiteral(at: node)
        if negative {
            guard T.isSigned, magnitude <= UInt64(Int64.max) + 1 else { throw unsure() }
            let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            guard let result = T(exactly: value) else { throw unsure() }
            return result
        }
        guard let result = T(exactly: magnitude) else { throw unsure() }
        return result
    }

    /// A number as `T`, parsed like Foundation (correctly rounded, as strtod/strtof); throws
    /// where Foundation throws: infinite results, and zero from a literal with a nonzero digit.
    func float<T: BinaryFloatingPoint & LosslessStringConvertible>(_: T.Type, at node: Int) throws(PayloadJSON.Unsupported) -> T {
        let value = nodes[node]
        guard value.kind == .number else { throw PayloadJSON.Unsupported() }
        // Integers below 2^24 are exact in Float and Double alike: no parsing needed.
        if !value.complex, value.end - value.start <= 8, !isNegativeZero(value),
           let literal = try? integerLiteral(at: node), literal.magnitude < 1 << 24 {
            let magnitude = T(literal.magnitude)
            return literal.negative ? -magnitude : magnitude
        }
        guard let result = T(String(decoding: bytes[value.start..<value.end], as: UTF8.self)), result.isFinite else {
            throw unsure()
        }
        if result == 0 {
            for index in value.start..<value.end {
                let byte = bytes[index]
                if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { break }
                if byte >= UInt8(ascii: "1") && byte <= UInt8(ascii: "9") { throw unsure() }
            }
        }
        return result
    }

    /// `-0`, which the integer path leaves to Foundation but is plainly -0.0 as a float.
    private func isNegativeZero(_ value: PayloadJSONNode) -> Bool {
        value.end - value.start == 2 && bytes[value.start] == UInt8(ascii: "-")
    }
}

/// Where the coding path of a decoding container's values starts: the decoder's path up to a
/// depth (containers of the value being decoded), or a copy (nested containers, which outlive
/// the path they were created at).
enum PayloadJSONPathBase {
    case depth(Int)
    case nested([any CodingKey])
}

extension PayloadJSONDecoder {
    func codingPath(_ base: PayloadJSONPathBase) -> [any CodingKey] {
        switch base {
        case .depth(let depth): Array(path.prefix(depth))
        case .nested(let prefix): prefix
        }
    }
}

/// A keyed container of ``PayloadJSONDecoder``: looks keys up by comparing their UTF-8 with
/// the parsed keys' bytes.
struct PayloadJSONKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: PayloadJSONDecoder
    let object: Int
    let base: PayloadJSONPathBase

    var codingPath: [any CodingKey] { decoder.codingPath(base) }

    var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(decoder.nodes[object].count)
        var keyNode = object + 1
        for _ in 0..<decoder.nodes[object].count {
            let node = decoder.nodes[keyNode]
            if let key = Key(stringValue: String(decoding: decoder.bytes[node.start..<node.end], as: UTF8.self)) {
                keys.append(key)
            }
            keyNode = decoder.nodes[keyNode + 1].next
        }
        return keys
    }

    /// The value node of `key`, nil if the object has no such key. Parsed keys are ASCII, so a
    /// key that is not cannot be answered by comparing bytes: that sets `failed`.
    private func find(_ key: Key) -> Int? {
        let name = key.stringValue
        guard name.utf8.allSatisfy({ $0 < 0x80 }) else {
            decoder.failed = true
            return nil
        }
        var keyNode = object + 1
        for _ in 0..<decoder.nodes[object].count {
            let node = decoder.nodes[keyNode]
            if PayloadJSON.equals(name, decoder.bytes, node.start..<node.end) { return keyNode + 1 }
            keyNode = decoder.nodes[keyNode + 1].next
        }
        return nil
    }

    private func value(_ key: Key) throws(PayloadJSON.Unsupported) -> Int {
        guard let node = find(key) else { throw PayloadJSON.Unsupported() }
        return node
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { decoder.isNull(try value(key)) }
    func decode(_: Bool.Type, forKey key: Key) throws -> Bool { try decoder.bool(at: try value(key)) }
    func decode(_: String.Type, forKey key: Key) throws -> String { try decoder.string(at: try value(key)) }
    func decode(_: Double.Type, forKey key: Key) throws -> Double { try decoder.float(Double.self, at: try value(key)) }
    func decode(_: Float.Type, forKey key: Key) throws -> Float { try decoder.float(Float.self, at: try value(key)) }
    func decode(_: Int.Type, forKey key: Key) throws -> Int { try decoder.integer(Int.self, at: try value(key)) }
    func decode(_: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.integer(Int8.self, at: try value(key)) }
    func decode(_: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.integer(Int16.self, at: try value(key)) }
    func decode(_: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.integer(Int32.self, at: try value(key)) }
    func decode(_: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.integer(Int64.self, at: try value(key)) }
    func decode(_: UInt.Type, forKey key: Key) throws -> UInt { try decoder.integer(UInt.self, at: try value(key)) }
    func decode(_: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.integer(UInt8.self, at: try value(key)) }
    func decode(_: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.integer(UInt16.self, at: try value(key)) }
    func decode(_: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.integer(UInt32.self, at: try value(key)) }
    func decode(_: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.integer(UInt64.self, at: try value(key)) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decoder.decodeValue(type, at: try value(key), base: base, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy _: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder.keyedContainer(at: try value(key), base: .nested(codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.unkeyedContainer(at: try value(key), base: .nested(codingPath + [key]))
    }

    func superDecoder() throws -> any Decoder { throw decoder.unsure() }
    func superDecoder(forKey _: Key) throws -> any Decoder { throw decoder.unsure() }
}

/// An unkeyed container of ``PayloadJSONDecoder``: walks the elements of an array node.
struct PayloadJSONUnkeyedDecoding: UnkeyedDecodingContainer {
    let decoder: PayloadJSONDecoder
    let base: PayloadJSONPathBase
    let count: Int?
    private(set) var currentIndex = 0
    /// The node of the element at `currentIndex`.
    private var cursor: Int

    init(decoder: PayloadJSONDecoder, array: Int, base: PayloadJSONPathBase) {
        self.decoder = decoder
        self.base = base
        self.count = decoder.nodes[array].count
        self.cursor = array + 1
    }

    var codingPath: [any CodingKey] { decoder.codingPath(base) }
    var isAtEnd: Bool { currentIndex >= count ?? 0 }

    /// The current element's node; moves past it.
    private mutating func next() throws(PayloadJSON.Unsupported) -> Int {
        guard !isAtEnd else { throw PayloadJSON.Unsupported() }
        let node = cursor
        cursor = decoder.nodes[node].next
        currentIndex += 1
        return node
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw PayloadJSON.Unsupported() }
        guard decoder.isNull(cursor) else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_: Bool.Type) throws -> Bool { try decoder.bool(at: try next()) }
    mutating func decode(_: String.Type) throws -> String { try decoder.string(at: try next()) }
    mutating func decode(_: Double.Type) throws -> Double { try decoder.float(Double.self, at: try next()) }
    mutating func decode(_: Float.Type) throws -> Float { try decoder.float(Float.self, at: try next()) }
    mutating func decode(_: Int.Type) throws -> Int { try decoder.integer(Int.self, at: try next()) }
    mutating func decode(_: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self, at: try next()) }
    mutating func decode(_: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self, at: try next()) }
    mutating func decode(_: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self, at: try next()) }
    mutating func decode(_: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self, at: try next()) }
    mutating func decode(_: UInt.Type) throws -> UInt { try decoder.integer(UInt.self, at: try next()) }
    mutating func decode(_: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self, at: try next()) }
    mutating func decode(_: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self, at: try next()) }
    mutating func decode(_: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self, at: try next()) }
    mutating func decode(_: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self, at: try next()) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let key = PayloadJSONIndexKey(intValue: currentIndex)
        return try decoder.decodeValue(type, at: try next(), base: base, key: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy _: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let key = PayloadJSONIndexKey(intValue: currentIndex)
        return try decoder.keyedContainer(at: try next(), base: .nested(codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let key = PayloadJSONIndexKey(intValue: currentIndex)
        return try decoder.unkeyedContainer(at: try next(), base: .nested(codingPath + [key]))
    }

    mutating func superDecoder() throws -> any Decoder { throw decoder.unsure() }
}

/// A single-value container of ``PayloadJSONDecoder``.
struct PayloadJSONSingleValueDecoding: SingleValueDecodingContainer {
    let decoder: PayloadJSONDecoder
    let node: Int
    let depth: Int

    var codingPath: [any CodingKey] { Array(decoder.path.prefix(depth)) }

    func decodeNil() -> Bool { decoder.isNull(node) }
    func decode(_: Bool.Type) throws -> Bool { try decoder.bool(at: node) }
    func decode(_: String.Type) throws -> String { try decoder.string(at: node) }
    func decode(_: Double.Type) throws -> Double { try decoder.float(Double.self, at: node) }
    func decode(_: Float.Type) throws -> Float { try decoder.float(Float.self, at: node) }
    func decode(_: Int.Type) throws -> Int { try decoder.integer(Int.self, at: node) }
    func decode(_: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self, at: node) }
    func decode(_: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self, at: node) }
    func decode(_: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self, at: node) }
    func decode(_: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self, at: node) }
    func decode(_: UInt.Type) throws -> UInt { try decoder.integer(UInt.self, at: node) }
    func decode(_: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self, at: node) }
    func decode(_: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self, at: node) }
    func decode(_: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self, at: node) }
    func decode(_: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self, at: node) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.decodeValue(type, at: node, key: nil)
    }
}
