import Foundation
import SpoolTesting
import Testing

/// The read-only commands under the `spool-inspector` ACL user of docs/operations.md, created
/// from the doc's own line (`ACLTests` in SpoolTests runs the library under all three users).
@Suite(.timeLimit(.minutes(2)))
struct InspectorUserTests {
    /// `stats` and `queues --watch` count the jobs completed between two readings with `ZCOUNT`,
    /// which the documented user lacked: `processed_per_second` was always null (`DONE/S -`).
    @Test func everyReadOnlyCommandRunsUnderTheDocumentedInspectorUser() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli(arguments: ["ACL", "SETUSER"] + (try Self.inspectorRules()))
            let url = "redis://spool-inspector:\(Self.password)@127.0.0.1:\(server.port)"
            for arguments in [
                ["queues"], ["queues", "--json"], ["inspect", "emails"], ["job", "emails", Seed.jobs[0]],
                ["dlq", "list", "emails"], ["dlq", "show", "emails", "--all"], ["ping"], ["health"],
            ] {
                let run = try await spool(arguments: arguments + ["--redis", url])
                #expect(run.status == 0, "\(arguments): \(run.stderr)")
            }
            let stats = try await spool("stats", "--json", "--interval", "100ms", "--redis", url)
            #expect(stats.status == 0, "\(stats.stderr)")
            let queues = try #require(try stats.json()["queues"] as? [[String: Any]])
            let groups = try #require(queues.first { $0["queue"] as? String == "emails" }?["groups"] as? [[String: Any]])
            #expect(groups.count == 2)
            for group in groups {
                #expect(group["processed_per_second"] is NSNumber, "\(group)")
                #expect(group["failed_per_second"] is NSNumber, "\(group)")
            }
            #expect(queues.first?["enqueued_per_second"] is NSNumber, "\(queues)")
            // `health` tries CONFIG GET, which the user is not given on purpose (it warns instead)
            let log = try server.cli("ACL", "LOG", "128").split(separator: "\n").map(String.init)
            let refused = log.indices.dropLast().filter { log[$0] == "object" }.map { log[$0 + 1] }
            #expect(refused.filter { $0 != "config|get" } == [], "refused: \(refused)")
        }
    }

    static let password = "inspector-test-password"

    /// The words after `ACL SETUSER` of docs/operations.md's `spool-inspector` line.
    static func inspectorRules() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ACL SETUSER spool-inspector ") })
        return line.split(separator: " ").dropFirst(2).map { $0 == ">CHANGE-ME" ? ">" + password : String($0) }
    }
}
