import Foundation
import SpoolTesting
import Testing

/// `--prefix` and `$SPOOL_PREFIX`: the CLI on the keys of an app configured with another prefix.
@Suite(.timeLimit(.minutes(2)))
struct PrefixTests {
    @Test("enqueue, worker, job and queues all use --prefix (or $SPOOL_PREFIX), and leave the default prefix's queue alone")
    func everyCommandUsesThePrefix() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let succeed = try fixture.script("succeed.sh", "cat > /dev/null")
            _ = try await fixture.enqueue("orders")
            let id = try await fixture.enqueue("orders", ["--prefix", "app1"])
            #expect(try server.cli("XLEN", "app1:{orders}:stream") == "1")
            #expect(try server.cli("SMEMBERS", "app1:queues") == "orders")

            let worker = try fixture.worker(queue: "orders", ["--prefix", "app1"], exec: [succeed])
            defer { worker.kill() }
            try await waitUntil("the job shows done under app1") {
                let job = try await SpoolProcess.run(["job", "orders", id, "--redis", server.url], environment: ["SPOOL_PREFIX": "app1"])
                return job.status == 0 && job.stdout.contains("done at")
            }
            // the worker never touched the queue under the default prefix
            #expect(try server.cli("XLEN", "spool:{orders}:stream") == "1")
            #expect(try server.cli("XINFO", "GROUPS", "spool:{orders}:stream").isEmpty)

            let listed = try await SpoolProcess.run(["queues", "--json", "--redis", server.url, "--prefix", "app1"])
            #expect(listed.status == 0, "\(listed.stderr)")
            #expect(listed.stdout.contains(#""queue" : "orders""#), "\(listed.stdout)")
            #expect(listed.stdout.contains(#""length" : 1"#), "\(listed.stdout)")
            let elsewhere = try await SpoolProcess.run(["job", "orders", id, "--redis", server.url, "--prefix", "app2"])
            #expect(elsewhere.status == 1 && elsewhere.stderr.contains(#"no such stream under prefix "app2""#), "\(elsewhere.stderr)")
        }
    }

    @Test("a prefix that is not a valid key prefix is refused in one line")
    func badPrefix() async throws {
        for (arguments, environment, source) in [
            (["queues", "--prefix", "a b"], [String: String](), "--prefix"),
            (["queues"], ["SPOOL_PREFIX": "{x}"], "$SPOOL_PREFIX"),
        ] {
            let run = try await SpoolProcess.run(arguments + ["--redis", "redis://127.0.0.1:1"], environment: environment)
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(run.stderrLines.count == 1 && run.stderr.hasPrefix("spool: \(source): "), "\(run.stderr)")
        }
    }
}
