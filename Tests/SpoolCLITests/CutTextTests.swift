import Foundation
import SpoolTesting
import Testing

@Suite("spool: long values cut to their column (the built binary)")
struct CutTextTests {
    /// A long value is cut to its column (or to 200 characters in `spool job`) after its
    /// control characters are escaped. The cut counted the escaped text's characters, so it
    /// could stop inside an escape and print `\u` with no digits, or `\u00`.
    @Test("a value cut short never ends inside a control character's escape")
    func cutKeepsEscapesWhole() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let id = "0190ff3c-5e4a-7b21-9c3d-4e5f607182cc"
            // escaped, the payload is 197 letters, `\u001b` and `[2J`: the 199 characters
            // before the `…` ended in `\u`
            let payload = String(repeating: "a", count: 197) + "\u{1B}[2J"
            _ = try server.cli("XADD", Seed.stream, "*", "v", "1", "id", id, "type", "t", "payload", payload)
            let job = try await spool("job", "emails", id, "--redis", server.url)
            #expect(job.status == 0, "\(job.stderr)")
            let line = try #require(job.stdout.split(separator: "\n").first { $0.contains("payload:") }, "\(job.stdout)")
            #expect(line.hasSuffix(String(repeating: "a", count: 197) + "…"), "\(line)")
        }
    }
}
