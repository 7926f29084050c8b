import Foundation
import Testing

@testable import Spool

@Suite struct JobParametersTests {
    struct SendEmail: JobParameters, Equatable {
        static let jobName = "send_email"
        let to: String
        let retries: Int
    }

    struct Other: JobParameters {
        static let jobName = "other"
    }

    struct Unencodable: JobParameters {
        static let jobName = "unencodable"
        var value = Double.nan
    }

    @Test func makeEncodesJSONAndTheType() throws {
        let parameters = SendEmail(to: "a@b.c", retries: 2)
        let envelope = try JobEnvelope.make(parameters, key: "welcome-42", headers: ["h": "v"])
        #expect(envelope.type == "send_email")
        #expect(envelope.key == "welcome-42")
        #expect(envelope.headers == ["h": "v"])
        #expect(envelope.attempt == 1 && envelope.version == 1)
        let json = try JSONSerialization.jsonObject(with: Data(envelope.payload)) as? [String: Any]
        #expect(json?["to"] as? String == "a@b.c")
        #expect(try envelope.decodePayload(as: SendEmail.self) == parameters)
        let inferred: SendEmail = try envelope.decodePayload()
        #expect(inferred == parameters)
    }

    @Test func makeChecksThePayloadLimit() {
        #expect {
            let parameters = SendEmail(to: String(repeating: "x", count: 100), retries: 0)
            _ = try JobEnvelope.make(parameters, maxPayloadBytes: 64)
        } throws: { error in
            (error as? SpoolError)?.code == .payloadTooLarge
        }
    }

    @Test func makeReportsEncodingFailures() {
        #expect {
            _ = try JobEnvelope.make(Unencodable())
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .encodingFailed && error?.underlying is EncodingError
                && error?.message.hasPrefix("could not encode parameters of job type \"unencodable\"") == true
        }
    }

    @Test func decodePayloadRejectsAnotherType() throws {
        let envelope = try JobEnvelope.make(Other())
        #expect {
            _ = try envelope.decodePayload(as: SendEmail.self)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .decodingFailed
                && error?.message == "job \(envelope.id) has type \"other\", not \"send_email\": "
                    + "register the handler under the job's type"
        }
    }

    @Test(arguments: [
        (#"{"to":"a@b.c"}"#, "missing key \"retries\" at the top level"),
        (#"{"to":5,"retries":1}"#, "expected String at to"),
        ("not json", "invalid data at the top level"),
    ])
    func decodePayloadNamesTheProblemButNotTheData(payload: String, summary: String) {
        let envelope = JobEnvelope(type: "send_email", payload: Array(payload.utf8))
        #expect {
            _ = try envelope.decodePayload(as: SendEmail.self)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .decodingFailed && error?.underlying is DecodingError
                && error?.message.contains(summary) == true
                && error?.message.contains("a@b.c") == false
        }
    }
}
