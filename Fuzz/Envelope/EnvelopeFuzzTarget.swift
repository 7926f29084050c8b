// libFuzzer target: JobEnvelope.decode(fields:) on arbitrary stream entries.
//
// The input is the entry's values separated by NUL bytes (`v\0001\0id\0…`), so the seed
// corpus stays readable. Properties checked beside "never traps":
// - both decode overloads (flat list and pairs) agree;
// - an envelope that decodes re-encodes (encodeFields) to fields that decode to the same
//   envelope, as a retry or a replay re-enqueues it.
// Built by Scripts/fuzz.sh together with the Envelope and Errors sources of the Spool module.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map { Array($0) }
    let flat = Result { () throws(SpoolError) in try JobEnvelope.decode(fields: fields) }
    if fields.count % 2 == 0 {
        let pairs = stride(from: 0, to: fields.count, by: 2).map { (name: fields[$0], value: fields[$0 + 1]) }
        let paired = Result { () throws(SpoolError) in try JobEnvelope.decode(fields: pairs) }
        switch (flat, paired) {
        case (.success(let a), .success(let b)): precondition(a == b, "the two decode overloads disagree")
        case (.failure(let a), .failure(let b)): precondition(a.code == b.code, "the two decode overloads fail differently")
        default: preconditionFailure("one decode overload failed, the other did not")
        }
    }
    if case .success(let envelope) = flat {
        var encoded: [[UInt8]] = []
        envelope.encodeFields(into: &encoded)
        guard let again = try? JobEnvelope.decode(fields: encoded) else {
            preconditionFailure("a decoded envelope re-encodes to fields that do not decode")
        }
        precondition(again == envelope, "a decoded envelope does not survive re-encoding")
    } else if case .failure(let error) = flat {
        precondition(error.code == .malformedEnvelope, "decode failed with \(error.code)")
        _ = error.description
    }
    return 0
}
