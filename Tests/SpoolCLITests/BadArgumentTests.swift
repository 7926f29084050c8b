import Foundation
import SpoolTesting
import Testing

/// Bad input an outside audit of the CLI found crashing, misleading or silently ignored.
@Suite("spool: bad arguments and clobbered keys (the built binary)")
struct BadArgumentTests {
    /// Each was a crash (`Fatal error`, exit 132), a silent no-op or an unclear message.
    @Test("bad values are refused in one line with exit 64, before anything runs", arguments: [
        (["dlq", "list", "emails", "--limit=-5"], "--limit must be 1 or more"),
        (["inspect", "emails", "--count", "0"], "--count must be 1 or more"),
        (["enqueue", "q", "--data", "{}", "--delay", "9999999999999h"], "9999999999999h"),
        (["enqueue", "q", "--data", "{}", "--type", "a\nb"], #"--type "a\nb" holds control characters"#),
        (["ping", "--timeout", "9999999999999h"], "9999999999999h"),
        (["ping", "--timeout", "0s"], "--timeout must be more than 0"),
        (["health", "--max-dead=-1"], "--max-dead must be 0 or more"),
        (["queues", "--interval", "2s"], "--interval is how often --watch refreshes: add --watch, or leave it out"),
        (["dlq", "list", "emails", "--since", "2h30m"], "The value '2h30m' is invalid for '--since <time>': give a duration ago "
            + "(a number with ms, s, m or h, e.g. 30m, 2h) or an ISO 8601 time (2024-05-01T12:00:00Z, 2024-05-01)"),
        (["worker", "--queue", "q", "--log-level", "loud", "--exec", "/bin/true"], "trace, debug, info"),
        // flags that do not go together (these exited 1, where `spool --help` promises 64)
        (["enqueue", "q", "--data", "{}", "--file", "job.json"], "pass either --data or --file, not both"),
        (["enqueue", "q", "--key", "k", "--lines"], "--key cannot be combined with --lines"),
        (["worker", "--config", "spool.yml", "--queue", "q"], "--config lists its own subscriptions"),
        (["worker", "--queue", "q", "--http", "http://example.com/jobs", "--exec", "/bin/true"], "give exactly one handler"),
        (["worker", "--queue", "q"], "give exactly one handler"),
    ])
    func refused(arguments: [String], expected: String) async throws {
        let run = try await spool(arguments: arguments + ["--redis", "redis://127.0.0.1:1"])
        #expect(run.status == 64, "\(arguments): \(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.hasPrefix("spool: ") && run.stderr.contains(expected), "\(arguments): \(run.stderr)")
    }

    @Test("worker: a second --queue and a directory as the exec handler stop it at start")
    func workerStart() async throws {
        try await withRedisServer { server in
            let twice = try await spool("worker", "--redis", server.url, "--queue", "a", "--queue", "b", "--exec", "/bin/true")
            #expect(twice.status == 64 && twice.stderrLines.count == 1 && twice.stderr.contains("--queue was given 2 times"), "\(twice.stderr)")
            let directory = try await spool("worker", "--redis", server.url, "--queue", "a", "--exec", "/tmp")
            #expect(directory.status == 1 && directory.stderrLines.count == 1, "\(directory.stderr)")
            #expect(directory.stderr.contains("exec handler /tmp is not an executable file: not a regular file"), "\(directory.stderr)")
        }
    }

    /// An executable file the kernel cannot run passed the start check: the worker started and
    /// handed every job back, the reason only in its log. (Where `binfmt_misc` lists a format,
    /// any file may run, and nothing is refused: these cases are then skipped.)
    @Test("worker: an exec program the kernel cannot run stops it at start, saying why",
          .enabled(if: BinfmtMisc.state != .formats, "binfmt_misc lists a format: any file may run"),
          arguments: [
        ("crlf.sh", "#!/bin/sh\r\necho hi\r\n",
         "its #! interpreter's name ends in a carriage return (Windows line endings): convert the file"),
        ("no-interpreter.sh", "#!/no/such/interpreter -x\necho hi\n",
         "its #! interpreter /no/such/interpreter is missing or not executable: install it, or change the #! line"),
        ("no-newline.sh", "#!/no/such/interpreter", "its #! interpreter /no/such/interpreter is missing"),
        ("empty-line.sh", "#!  \necho hi\n", "its #! line names no interpreter"),
    ])
    func unrunnableExecProgram(name: String, content: String, expected: String) async throws {
        let run = try await Self.startWorker(executing: name, content)
        #expect(run.status == 1 && run.stderrLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("spool: exec handler "), "\(run.stderr)")
        #expect(run.stderr.contains("/\(name) cannot be run: \(expected)"), "\(run.stderr)")
    }

    /// A file that is neither ELF nor `#!` is refused only where `binfmt_misc` is mounted and
    /// lists no format: where it is not mounted (most containers) the host's formats may apply.
    @Test("worker: an exec program that is neither ELF nor a #! script stops it at start where binfmt_misc runs nothing else",
          .enabled(if: BinfmtMisc.state == .mountedEmpty, "binfmt_misc is not mounted here, or lists a format"))
    func execProgramOfNoKnownFormat() async throws {
        let run = try await Self.startWorker(executing: "no-shebang.sh", "echo hi\n")
        #expect(run.status == 1 && run.stderrLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("cannot be run: it is neither a program (ELF) nor a script with a #! line"), "\(run.stderr)")
    }

    /// What the kernel runs must not be refused: a space after `#!`, a carriage return after an
    /// argument (it goes to the interpreter, which may accept it, as perl does).
    @Test("worker: an exec program the kernel runs passes the start check", arguments: [
        "#! /bin/sh\nexit 0\n", "#!/bin/sh -e\r\nexit 0\r\n", "#!\t/bin/sh\nexit 0\n",
    ])
    func runnableExecProgram(content: String) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let program = try TempDirectory.script(fixture.directory, "handler.sh", content)
            let worker = try fixture.worker(queue: "q", exec: [program])
            defer { worker.kill() }
            try await waitUntil("the worker serves the queue") { worker.stderr.contains("serving queue") || !worker.isRunning }
            #expect(worker.isRunning, "\(worker.stderr)")
        }
    }

    /// `spool worker --queue a --exec <a file named name holding content>`, run to its end
    /// (60 s at most: a worker that starts would otherwise run until stopped). The check comes
    /// before any connection.
    private static func startWorker(executing name: String, _ content: String) async throws -> RunResult {
        let directory = try TempDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try TempDirectory.script(directory, name, content)
        return try await SpoolProcess.run(
            ["worker", "--redis", "redis://127.0.0.1:1", "--queue", "a", "--exec", path], timeout: .seconds(60)
        )
    }

    /// A negative number after its option, as a separate argument, was read as an unknown
    /// option: every one said "Missing value for '--limit <limit>'", though a value was given.
    /// A range the worker's settings check (without --config, every value is a flag's) exited 1.
    @Test("a negative number given as an option's own argument is that option's value, refused for its range with exit 64", arguments: [
        (["dlq", "list", "emails", "--limit", "-5"], "--limit must be 1 or more"),
        (["inspect", "emails", "--count", "-2"], "--count must be 1 or more"),
        (["health", "--max-dead", "-1"], "--max-dead must be 0 or more"),
        (["enqueue", "q", "--data", "{}", "--max-attempts", "-1"], "--max-attempts must be at least 1 (got -1)"),
        (["ping", "--timeout", "-5s"], "The value '-5s' is invalid for '--timeout <duration>'"),
        (["enqueue", "q", "--data", "{}", "--delay", "-3s"], "The value '-3s' is invalid for '--delay <duration>'"),
        // (it did not say what a duration looks like)
        (["enqueue", "q", "--data", "{}", "--delay", "5x"], "The value '5x' is invalid for '--delay <duration>': a duration is a number with ms, s, m or h"),
        (["worker", "--queue", "q", "--concurrency", "-1", "--exec", "/bin/true"], "concurrency must be 1...10000 (got -1)"),
        (["worker", "--queue", "q", "--max-attempts", "-3", "--exec", "/bin/true"], "max attempts must be at least 1 (got -3)"),
        (["worker", "--queue", "q", "--metrics-port", "-1", "--exec", "/bin/true"], "metrics port must be 0...65535"),
        (["worker", "--queue", "q", "--grace-period", "-3s", "--exec", "/bin/true"], "The value '-3s' is invalid for '--grace-period <duration>'"),
        // an option's value missing before the next option: named, not taken as that option
        (["worker", "--queue", "q", "--concurrency", "--exec", "/bin/true"], "The value '--exec' is invalid for '--concurrency <concurrency>'"),
        (["enqueue", "q", "--type", "--data", "{}"], "--type lacks a value: it was followed by --data"),
        (["enqueue", "q", "--key", "--lines"], "--key lacks a value: it was followed by --lines"),
        (["dlq", "list", "emails", "--group", "--all"], "--group lacks a value: it was followed by --all"),
        (["worker", "--queue", "q", "--group", "--exec", "/bin/true"], "--group lacks a value: it was followed by --exec"),
        (["worker", "--queue", "--exec", "/bin/true"], "--queue lacks a value: it was followed by --exec"),
        (["worker", "--config", "--queue", "q", "--exec", "/bin/true"], "--config lacks a value: it was followed by --queue"),
        (["health", "--queue", "--json"], "--queue lacks a value: it was followed by --json"),
        (["queues", "--prefix", "--json"], "--prefix lacks a value: it was followed by --json"),
        (["enqueue", "q", "--file", "--data", "1"], "--file lacks a value: it was followed by --data"),
    ])
    func negativeValues(arguments: [String], expected: String) async throws {
        let run = try await spool(arguments: arguments + ["--redis", "redis://127.0.0.1:1"])
        #expect(run.status == 64, "\(arguments): \(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.hasPrefix("spool: ") && run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        #expect(!run.stderr.contains("Missing value"), "\(arguments): \(run.stderr)")
    }

    /// Queue names and prefixes may start with `-`: `--queue -urgent` and `--prefix -app` said
    /// "Missing value", so no command could reach such a queue by flag.
    @Test("a queue or a prefix starting with - is taken as given: by flag, and as an argument after --")
    func valuesStartingWithDash() async throws {
        try await withRedisServer { server in
            let enqueued = try await spool("enqueue", "--redis", server.url, "--prefix", "-app", "--data", "{}", "--", "-urgent")
            #expect(enqueued.status == 0, "\(enqueued.stderr)")
            #expect(try server.cli("XLEN", "-app:{-urgent}:stream") == "1")
            let health = try await spool("health", "--redis", server.url, "--prefix", "-app", "--queue", "-urgent")
            #expect(health.status == 0 && health.stdout.contains("healthy: 1 queue"), "\(health.stdout) \(health.stderr)")
        }
    }

    /// Was capped silently: every retry then waited the max, whatever the base said.
    @Test("worker: a backoff base above the backoff max is refused in one line at start, before Redis is reached")
    func backoffBaseAboveMax() async throws {
        let flags = try await spool(
            "worker", "--redis", "redis://127.0.0.1:1", "--queue", "a", "--backoff-base", "10m", "--exec", "/bin/true"
        )
        #expect(flags.status == 64 && flags.stderrLines.count == 1, "\(flags.stderr)")
        #expect(flags.stderr.contains("queue a: backoff base 600s is above backoff max 300s"), "\(flags.stderr)")
        let within = try await spool(
            "worker", "--redis", "redis://127.0.0.1:1", "--queue", "a", "--backoff-base", "10m", "--backoff-max", "10m",
            "--exec", "/bin/true"
        )
        // gets past the settings: fails on the unreachable Redis instead
        #expect(within.status != 0 && !within.stderr.contains("backoff base"), "\(within.stderr)")
    }

    @Test("no Redis given and no place for a private one (a container's read-only directory): one line saying to pass --redis")
    func nowhereForAPrivateRedis() async throws {
        let directory = try TempDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // `.spool` taken by a file: the directory cannot be made (as for a directory the user
        // cannot write, which root could)
        #expect(FileManager.default.createFile(atPath: "\(directory)/.spool", contents: Data()))
        let run = try await SpoolProcess.run(["queues"], in: directory)
        #expect(run.status == 1 && run.stderrLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("spool: no Redis given (--redis or $SPOOL_REDIS_URL), and cannot create \(directory)/.spool"), "\(run.stderr)")
        #expect(run.stderr.contains("Pass --redis URL"), "\(run.stderr)")
    }

    @Test("queues: a queue whose stream key another application clobbered is named; the others are still listed")
    func clobberedQueue() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("SET", "spool:{strq}:stream", "hello")
            _ = try server.cli("SADD", "spool:queues", "strq")
            let run = try await spool("queues", "--redis", server.url)
            #expect(run.status == 1)
            #expect(run.stdout.contains("emails"), "\(run.stdout)")
            #expect(run.stderrLines.count == 1, "\(run.stderr)")
            #expect(run.stderr.contains("key spool:{strq}:stream holds a string, not a stream"), "\(run.stderr)")
            let health = try await spool("health", "--queue", "strq", "--redis", server.url)
            #expect(health.status == 1 && health.stderr.contains("holds a string, not a stream"), "\(health.stderr)")
        }
    }

    @Test("queues, health, stats: a registry member that is no queue name is named, never silently skipped")
    func invalidRegistryMember() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("SADD", "spool:queues", "bad name")
            let run = try await spool("queues", "--redis", server.url)
            #expect(run.status == 1)
            #expect(run.stdout.contains("emails"), "the valid queue is still listed: \(run.stdout)")
            #expect(run.stderrLines.count == 1, "\(run.stderr)")
            #expect(run.stderr.contains(#"the registry spool:queues holds "bad name", which is not a queue name"#), "\(run.stderr)")
            for arguments in [["queues", "--json"], ["health"], ["stats", "--json", "--interval", "100ms"]] {
                let other = try await spool(arguments: arguments + ["--redis", server.url])
                #expect(other.status == 1 && other.stderrLines.count == 1, "\(arguments): \(other.stderr)")
                #expect(other.stderr.contains(#"holds "bad name""#), "\(arguments): \(other.stderr)")
            }
        }
    }

    @Test("lag counts a due retry nobody reads: health is unhealthy, not healthy")
    func retryLag() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            // the default group reads everything (the seed left one pending), then acks it all
            _ = try server.cli("XREADGROUP", "GROUP", "default", "c1", "STREAMS", "spool:{emails}:stream", ">")
            let pending = try server.cli("XPENDING", "spool:{emails}:stream", "default", "-", "+", "10")
            let ids = pending.split(separator: "\n").map(String.init).filter { $0.contains("-") && $0.first?.isNumber == true }
            _ = try server.cli(arguments: ["XACK", "spool:{emails}:stream", "default"] + ids)
            _ = try server.cli("XGROUP", "CREATE", "spool:{emails}:retry:default", "default", "0", "MKSTREAM")
            let before = try await spool("health", "--queue", "emails", "--max-lag", "60s", "--max-dead", "1", "--json", "--redis", server.url)
            // (the audit group has not read anything: its lag is the seed's age, well under 60 s)
            #expect(before.status == 0, "\(before.stdout)\(before.stderr)")
            // a retry that became due two minutes ago and was never read
            let due = Int64(Date().timeIntervalSince1970 * 1000) - 120_000
            _ = try server.cli("XADD", "spool:{emails}:retry:default", "\(due)-0", "v", "1", "id", Seed.jobs[0], "type", "send_email", "payload", "{}", "attempt", "2")
            let after = try await spool("health", "--queue", "emails", "--max-lag", "60s", "--max-dead", "1", "--redis", server.url)
            #expect(after.status == 1, "\(after.stdout)\(after.stderr)")
            #expect(after.stdout.contains("queue emails group default lag"), "\(after.stdout)")
        }
    }

    @Test("job ids match in either case (job, dlq list)")
    func idCase() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let job = try await spool("job", "emails", Seed.jobs[0].uppercased(), "--redis", server.url)
            #expect(job.status == 0 && job.stdout.contains("group default: pending on c1"), "\(job.stdout)\(job.stderr)")
            let letters = try await spool("dlq", "list", "emails", "--id", Seed.deadJob.uppercased(), "--json", "--redis", server.url)
            #expect(letters.status == 0, "\(letters.stderr)")
            #expect(try letters.json()["count"] as? Int == 1)
        }
    }

    /// An empty `$SPOOL_REDIS_URL` (a secret missing or mounted empty) was read as unset: the
    /// job went to a private redis-server started in the working directory, exit 0.
    @Test("an empty $SPOOL_REDIS_URL or $SPOOL_PREFIX is refused, not read as unset; --redis and --prefix still win")
    func emptyEnvironment() async throws {
        let directory = try TempDirectory.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let emptyURL = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory, environment: ["SPOOL_REDIS_URL": ""])
        #expect(emptyURL.status == 64, "\(emptyURL.stderr)")
        #expect(emptyURL.stderrLines == ["spool: $SPOOL_REDIS_URL is set but empty: set it to a Redis URL (e.g. redis://localhost:6379), "
            + "or unset it to use a private redis-server under ./.spool/ (see `spool help`)"], "\(emptyURL.stderr)")
        #expect(emptyURL.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/.spool"), "a private Redis was started")
        try await withRedisServer { server in
            let emptyPrefix = try await spool(arguments: ["enqueue", "q", "--data", "{}", "--redis", server.url], environment: ["SPOOL_PREFIX": ""])
            #expect(emptyPrefix.status == 64 && emptyPrefix.stderrLines.count == 1, "\(emptyPrefix.stderr)")
            #expect(emptyPrefix.stderr.contains("$SPOOL_PREFIX is set but empty"), "\(emptyPrefix.stderr)")
            #expect(try server.cli("EXISTS", "spool:{q}:stream") == "0")
            let flagsWin = try await spool(
                arguments: ["enqueue", "q", "--data", "{}", "--redis", server.url, "--prefix", "app"],
                environment: ["SPOOL_REDIS_URL": "", "SPOOL_PREFIX": ""])
            #expect(flagsWin.status == 0, "\(flagsWin.stderr)")
            #expect(try server.cli("XLEN", "app:{q}:stream") == "1")
        }
    }

    /// An empty `$SPOOL_REDIS_PASSWORD` was read as unset: the command connected without AUTH
    /// (to a server with no password, the job was pushed, exit 0).
    @Test("an empty $SPOOL_REDIS_PASSWORD is refused like an empty $SPOOL_REDIS_URL, before Redis is reached")
    func emptyPassword() async throws {
        try await withRedisServer { server in
            for arguments in [["enqueue", "q", "--data", "{}"], ["ping"]] {
                let run = try await spool(arguments: arguments + ["--redis", server.url], environment: ["SPOOL_REDIS_PASSWORD": ""])
                #expect(run.status == 64, "\(arguments): \(run.stderr)")
                #expect(run.stderrLines == ["spool: $SPOOL_REDIS_PASSWORD is set but empty: set it to the Redis password, "
                    + "or unset it (a password in the URL, if any, is used) (see `spool help`)"], "\(run.stderr)")
                #expect(run.stdout.isEmpty)
            }
            #expect(try server.cli("EXISTS", "spool:{q}:stream") == "0")
        }
    }
}

/// What `binfmt_misc` may run on this machine, as `spool worker`'s exec check reads it.
enum BinfmtMisc {
    case notMounted, mountedEmpty, formats

    static var state: BinfmtMisc {
        let directory = "/proc/sys/fs/binfmt_misc"
        guard FileManager.default.fileExists(atPath: directory + "/status"),
              let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return .notMounted }
        return entries.contains { $0 != "register" && $0 != "status" } ? .formats : .mountedEmpty
    }
}
