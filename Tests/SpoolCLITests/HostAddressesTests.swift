import Foundation
import SpoolTesting
import Testing

/// A host name with several addresses: a connect tries them in turn until one connects
/// (`HiredisContext`, after ``HostLookup``), as hiredis did when it looked names up itself.
@Suite(.timeLimit(.minutes(2)))
struct HostAddressesTests {
    @Test func aConnectGoesOnToTheNextAddressWhenTheFirstRefuses() async throws {
        if let reason = Self.unavailableReason {
            // as the network fault tests: a failure under CI (root), a known issue elsewhere
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("not runnable here: \(reason)") }
            else { withKnownIssue("not runnable here: \(reason)") { throw TestFailure(reason) } }
            return
        }
        var options = RedisServer.Options()
        options.bindAddresses = ["127.0.0.2"]
        try await withRedisServer(options) { server in
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            // 127.0.0.1 sorts first (glibc prefers the address that is its own source), and
            // nothing listens on it at the server's port: the connect must go on to 127.0.0.2
            try "127.0.0.1 localhost\n127.0.0.2 spool-multi.test\n127.0.0.1 spool-multi.test\n"
                .write(toFile: "\(directory)/hosts", atomically: false, encoding: .utf8)
            // a mount namespace of its own (unshare), with that hosts file bind-mounted
            let withHosts = try TempDirectory.script(directory, "with-hosts.sh", """
                #!/bin/sh
                dir=$1; shift
                mount --bind "$dir/hosts" /etc/hosts || exit 91
                first=$(getent ahostsv4 spool-multi.test | head -n 1 | cut -d ' ' -f 1)
                # the live address first would leave the loop over addresses untried
                [ "$first" = 127.0.0.1 ] || { echo "first address: '$first'" >&2; exit 92; }
                exec "$@"
                """)
            let child = try ChildProgram(
                executable: "unshare",
                arguments: ["--mount", withHosts, directory, try SpoolProcess.binary(),
                            "enqueue", "orders", "--redis", "redis://spool-multi.test:\(server.port)", "--data", "{}"],
                directory: directory, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") },
                stdinPath: nil, stdoutPath: "\(directory)/out", stderrPath: "\(directory)/err"
            )
            // a bound against a hang, not a timing goal
            let deadline = ContinuousClock.now + .seconds(60)
            while child.exitStatus == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            if child.exitStatus == nil {
                kill(child.pid, SIGKILL)
                Issue.record("spool enqueue still ran after 60 s")
                return
            }
            let stderr = (try? String(contentsOfFile: "\(directory)/err", encoding: .utf8)) ?? ""
            if child.exitStatus == 92 {
                withKnownIssue("not runnable here: glibc sorted the addresses otherwise (\(stderr))") { throw TestFailure(stderr) }
                return
            }
            #expect(child.exitStatus == 0, "stderr: \(stderr)")
            #expect(stderr.isEmpty, "\(stderr)")
            // the job is on the server at the second address
            #expect(try server.cli("XLEN", "spool:{orders}:stream") == "1")
        }
    }

    /// Why the test cannot run here: it needs root (a mount namespace, the bind mount), `unshare`
    /// and `getent`.
    static var unavailableReason: String? {
        if geteuid() != 0 { return "mount namespaces need root; running as uid \(geteuid())" }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for tool in ["unshare", "getent"] where !path.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }) {
            return "`\(tool)` is not on PATH"
        }
        return nil
    }
}
