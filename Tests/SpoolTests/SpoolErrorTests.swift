import Foundation
import Testing

@testable import Spool

@Suite struct SpoolErrorTests {
    struct Cause: Error {}

    @Test func descriptionIsTheMessage() {
        let error = SpoolError(code: .redis, message: "connection refused: start redis-server")
        #expect(error.description == "connection refused: start redis-server")
        #expect("\(error)" == error.message)
    }

    @Test("localizedDescription is the message, not Foundation's generic text")
    func localizedDescriptionIsTheMessage() {
        let error: any Error = SpoolError(code: .invalidArgument, message: "maxAttempts is 0; it must be at least 1")
        #expect(error.localizedDescription == "maxAttempts is 0; it must be at least 1")
    }

    @Test func debugDescriptionHasCodeUnderlyingAndLocation() {
        let error = SpoolError(code: .redis, message: "boom", underlying: Cause())
        #expect(error.debugDescription.contains("code: redis"))
        #expect(error.debugDescription.contains("Cause"))
        #expect(error.debugDescription.contains("SpoolErrorTests.swift:"))
    }

    @Test func codesCompareAndDescribeThemselves() {
        let codes: [SpoolError.Code] = [
            .invalidQueueName, .invalidGroupName, .payloadTooLarge, .malformedEnvelope,
            .encodingFailed, .decodingFailed, .unknownQueue, .redis, .handlerTimeout, .shutdown,
            .invalidArgument,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(SpoolError.Code.malformedEnvelope.description == "malformedEnvelope")
        let error = SpoolError(code: .shutdown, message: "stopping")
        switch error.code {
        case .shutdown: break
        default: Issue.record("expected .shutdown, got \(error.code)")
        }
    }

    @Test(arguments: [
        (Array("abc".utf8), "\"abc\""),
        ([0x22, 0x5C], #""\"\\""#),
        ([0x00, 0xFF, 0x41], #""\x00\xFFA""#),
        (Array(repeating: UInt8(ascii: "x"), count: 50), "\"" + String(repeating: "x", count: 40) + "…\""),
    ])
    func quotedEscapesUntrustedBytes(bytes: [UInt8], expected: String) {
        #expect(SpoolError.quoted(bytes) == expected)
    }

    @Test func nonRetryableErrorKeepsReasonAndCause() {
        let plain = NonRetryableError("user 42 does not exist")
        #expect(plain.description == "user 42 does not exist")
        #expect(plain.underlying == nil)
        let wrapped = NonRetryableError(Cause())
        #expect(wrapped.underlying is Cause)
        #expect(wrapped.message == "Cause()")
        #expect(NonRetryableError(Cause(), message: "bad input").message == "bad input")
    }
}
