// libFuzzer target: RESP bytes through hiredis's reader (redisReaderFeed/GetReply), each
// reply converted to RESPValue (RESPValue+Hiredis.swift) exactly as a connection does, then
// read through every accessor. Checks beside "never traps": the conversion keeps bulk
// strings byte-exact and array lengths.
// Built by Scripts/fuzz.sh together with the RESP sources of the SpoolRedis module.
import CHiredis

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Known, upstream: hiredis 0.14 callocs a multi-bulk header's element count at once
    // (`*1999999999` asks for 16 GB before any element arrives); newer hiredis caps it with
    // maxelements. Skip such headers so the fuzzer keeps looking for other problems
    // (docs/reliability.md, fuzzing).
    if hasHugeMultiBulkCount(UnsafeBufferPointer(start: data, count: size)) { return 0 }
    guard let reader = redisReaderCreate() else { return 0 }
    defer { redisReaderFree(reader) }
    // feed in two pieces, as replies arrive split across reads
    let split = size / 2
    for (start, count) in [(0, split), (split, size - split)] where count > 0 {
        let status = data.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: count) {
            redisReaderFeed(reader, $0, count)
        }
        guard status == REDIS_OK else { return 0 }
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK, let raw else { break }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            let value = RESPValue(UnsafePointer(reply))
            check(value, against: UnsafePointer(reply))
            _ = (value.string, value.bytes, value.int, value.array, value.isNull, value.errorMessage, value.description)
            freeReplyObject(raw)
        }
    }
    return 0
}

/// The converted value mirrors the hiredis tree.
private func check(_ value: RESPValue, against reply: UnsafePointer<redisReply>) {
    let node = reply.pointee
    switch (node.type, value) {
    case (REDIS_REPLY_STRING, .bulkString(let bytes)):
        precondition(bytes.count == node.len, "bulk string length changed")
        for index in 0..<bytes.count where bytes[index] != UInt8(bitPattern: node.str[index]) {
            preconditionFailure("bulk string bytes changed")
        }
    case (REDIS_REPLY_ARRAY, .array(let elements)):
        precondition(elements.count == node.elements, "array length changed")
        for index in 0..<elements.count {
            if let child = node.element[index] { check(elements[index], against: UnsafePointer(child)) }
        }
    case (REDIS_REPLY_INTEGER, .integer(let number)):
        precondition(number == node.integer, "integer changed")
    case (REDIS_REPLY_STATUS, .simpleString), (REDIS_REPLY_ERROR, .error), (REDIS_REPLY_NIL, .null):
        break
    default:
        preconditionFailure("reply type \(node.type) converted to \(value)")
    }
}

/// Whether a `*` is followed by a count above 100,000 anywhere in `bytes`.
private func hasHugeMultiBulkCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "*") {
            var digits = 0
            var value = 0
            var next = index + 1
            while next < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[next]) {
                digits += 1
                if digits > 6 { return true }
                value = value * 10 + Int(bytes[next] - UInt8(ascii: "0"))
                next += 1
            }
            if value > 100_000 { return true }
        }
        index += 1
    }
    return false
}
