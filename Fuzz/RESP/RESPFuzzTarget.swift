// libFuzzer target: RESP bytes through two hiredis readers (redisReaderFeed/GetReply), one
// with hiredis's own reply objects (the reference) and one with Spool's ReplyBuilder
// (ReplyBuilder.swift), exactly as a connection reads. Checks beside "never traps": both
// readers complete replies at the same points and fail on the same inputs, and each built
// RESPValue mirrors hiredis's tree (bulk strings byte-exact, array lengths, integers), then
// reads through every accessor.
// Built by Scripts/fuzz.sh together with the RESP sources of the SpoolRedis module.
import CHiredis

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Known, upstream: hiredis 0.14 callocs a multi-bulk header's element count at once
    // (`*1999999999` asks for 16 GB before any element arrives); newer hiredis caps it with
    // maxelements. Skip such headers so the fuzzer keeps looking for other problems
    // (docs/reliability.md, fuzzing).
    if hasHugeMultiBulkCount(UnsafeBufferPointer(start: data, count: size)) { return 0 }
    guard let reference = redisReaderCreate() else { return 0 }
    defer { redisReaderFree(reference) }
    guard let reader = redisReaderCreate() else { return 0 }
    defer { redisReaderFree(reader) }
    let builder = ReplyBuilder()
    builder.install(on: reader)
    // feed in two pieces, as replies arrive split across reads
    let split = size / 2
    for (start, count) in [(0, split), (split, size - split)] where count > 0 {
        let fed = data.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: count) {
            (redisReaderFeed(reference, $0, count), redisReaderFeed(reader, $0, count))
        }
        precondition(fed.0 == fed.1, "the readers disagree on feeding")
        guard fed.0 == REDIS_OK else { return 0 }
        while true {
            var raw: UnsafeMutableRawPointer?
            var token: UnsafeMutableRawPointer?
            let status = redisReaderGetReply(reference, &raw)
            let builtStatus = redisReaderGetReply(reader, &token)
            precondition(status == builtStatus, "the readers disagree on an error")
            guard status == REDIS_OK, let raw else {
                precondition(token == nil, "the builder completed a reply hiredis did not")
                break
            }
            defer { freeReplyObject(raw) }
            guard token != nil, let value = builder.take() else { preconditionFailure("the builder missed a reply") }
            check(value, against: UnsafePointer(raw.assumingMemoryBound(to: redisReply.self)))
            _ = (value.string, value.bytes, value.int, value.array, value.isNull, value.errorMessage, value.description)
        }
    }
    return 0
}

/// The built value mirrors hiredis's tree.
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
            if let child = node.element[index] {
                check(elements[index], against: UnsafePointer(child))
            } else {
                precondition(elements[index] == .null, "a missing element became \(elements[index])")
            }
        }
    case (REDIS_REPLY_INTEGER, .integer(let number)):
        precondition(number == node.integer, "integer changed")
    case (REDIS_REPLY_STATUS, .simpleString(let text)), (REDIS_REPLY_ERROR, .error(let text)):
        precondition(text == String(decoding: UnsafeRawBufferPointer(start: node.str, count: node.len), as: UTF8.self), "status or error text changed")
    case (REDIS_REPLY_NIL, .null):
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
