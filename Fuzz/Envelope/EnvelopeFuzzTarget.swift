// libFuzzer target: JobEnvelope.decode(fields:) on arbitrary stream entries, and the fast
// payload JSON coders on arbitrary payloads.
//
// The input is the entry's values separated by NUL bytes (`v\0001\0id\0…`), so the seed
// corpus stays readable. Properties checked beside "never traps":
// - both decode overloads (flat list and pairs) agree;
// - an envelope that decodes re-encodes (encodeFields) to fields that decode to the same
//   envelope, as a retry or a replay re-enqueues it;
// - the whole input read as a JSON payload: when the fast decoder (PayloadJSON) succeeds,
//   Foundation's JSONDecoder reads the same value (the fast path may only fall back, never
//   differ), and the fast encoder's JSON of it reads back the same in Foundation.
// Built by Scripts/fuzz.sh together with the Envelope and Errors sources of the Spool module.

import Foundation

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
    checkPayload(Array(bytes))
    return 0
}

/// The fast payload decoder against Foundation's, and the fast encoder back through Foundation.
private func checkPayload(_ payload: [UInt8]) {
    guard let fast = try? PayloadJSON.decode(JSONMirror.self, from: payload) else { return }
    let foundation = try? JSONDecoder().decode(JSONMirror.self, from: Data(payload))
    precondition(foundation == fast, "the fast decoder read \(fast), Foundation \(String(describing: foundation))")
    guard let encoded = try? PayloadJSON.encode(fast) else { return }
    let again = try? JSONDecoder().decode(JSONMirror.self, from: Data(encoded))
    precondition(again == fast, "the fast encoder's JSON of \(fast) reads back as \(String(describing: again))")
}

/// Any JSON document as a Codable value.
private indirect enum JSONMirror: Codable, Equatable {
    case null, bool(Bool), int(Int), double(Double), string(String), array([JSONMirror]), object([String: JSONMirror])

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue _: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONMirror] = []
            while !array.isAtEnd { elements.append(try array.decode(JSONMirror.self)) }
            self = .array(elements)
        } else if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [String: JSONMirror] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(JSONMirror.self, forKey: key) }
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
