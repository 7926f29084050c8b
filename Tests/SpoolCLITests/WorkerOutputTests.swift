import Foundation
import SpoolTesting
import Testing

/// The worker's stderr: a reader that stalls or goes away, and signals before it has started.
@Suite(.timeLimit(.minutes(2)))
struct WorkerOutputTests {
    /// Exec handlers that print 2 MB each while nobody reads the worker's stderr. Forwarding
    /// wrote with a blocking `FileHandle.write` on the cooperative pool's threads (two here):
    /// they all blocked on the full pipe, the heartbeat stopped (its key expired, another worker
    /// would reclaim the jobs and run them a second time) and SIGTERM did nothing.
    @Test func aStderrNobodyReadsStopsNeitherTheHeartbeatNorTheJobsNorShutdown() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let pipe = try StderrPipe()
            // 2 MB each, in lines of 999 x's and a newline, then 100 kB every 50 ms until the
            // test creates the gate file
            let gate = fixture.directory + "/gate"
            let loud = ["/bin/sh", "-c", """
                line=$(head -c 999 /dev/zero | tr '\\0' x)
                yes "$line" | head -n 2000
                while [ ! -e "$0" ]; do yes "$line" | head -n 100; sleep 0.05; done
                """, gate]
            let worker = try fixture.worker(
                queue: "loud", ["--concurrency", "4", "--heartbeat-ttl", "2s", "--grace-period", "2s"],
                exec: loud, stderrDescriptor: pipe.writeEnd
            )
            pipe.closeWriteEnd()
            defer { worker.kill() }
            let probe = QueueProbe(server: server, queue: "loud")
            let heartbeats = "spool:{loud}:hb:default:*"
            var key = ""
            try await waitUntil("the worker's heartbeat key exists") {
                key = try server.cli("KEYS", heartbeats).split(separator: "\n").first.map(String.init) ?? ""
                return !key.isEmpty
            }
            for _ in 0..<4 { _ = try await fixture.enqueue("loud") }
            // (a pipe holds 64 KiB at most, less when writes leave its pages part full: 58 kB
            // was seen; the programs print on, so past half it is full a moment later)
            try await waitUntil("the pipe is full") { pipe.unreadBytes >= 32_768 }

            // While the programs print into the full pipe, the worker still beats: its live
            // heartbeat key's TTL goes back up three times (each a refresh). Blocked on the
            // pipe, it never did: the key expired. (Counted, not watched: a loaded machine may
            // hold a beat up; a key that lapsed and came back counts no refresh.)
            var refreshes = 0
            var last = -2
            try await waitUntil("the heartbeat was refreshed three times with the pipe full") {
                let ttl = Int(try server.cli("PTTL", key).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -2
                if last > 0 && ttl > last { refreshes += 1 }
                last = ttl
                return refreshes >= 3
            }
            #expect(pipe.unreadBytes >= 32_768, "the pipe was read meanwhile")
            #expect(try probe.doneCount() == 0, "the programs stopped printing before the gate")
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            try await waitUntil("the four jobs are done") { try probe.doneCount() == 4 }
            #expect(worker.isRunning)

            // the reader comes back: the worker says how many lines it dropped
            pipe.startReading()
            try await waitUntil("the dropped-lines notice is written") { pipe.text.contains(" of output: stderr was not read fast enough") }
            worker.signal(SIGTERM)
            let ended = try await worker.wait(timeout: .seconds(60))
            #expect(ended.status == 0)
            try await waitUntil("the pipe reached its end", within: .seconds(30)) { pipe.isAtEnd }
            let text = pipe.text
            #expect(text.range(of: #"dropped [0-9]+ lines? of output: stderr was not read fast enough"#, options: .regularExpression) != nil)
            #expect(text.contains("shutting down gracefully"))
            // lines are dropped whole: the programs' lines and the worker's own never cut into each other
            let cut = text.split(separator: "\n").filter { $0.contains("xxxxxxxx") && $0 != Substring(String(repeating: "x", count: 999)) }
            #expect(cut.isEmpty, "cut lines: \(cut.map { $0.prefix(100) })")
        }
    }

    /// With stderr's reader gone, a write got EPIPE (SIGPIPE is ignored) and Foundation's
    /// `FileHandle.write` trapped: the worker died at its first log line with status 132.
    @Test func aClosedStderrNeitherKillsTheWorkerNorStopsItsJobs() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let pipe = try StderrPipe()
            let worker = try fixture.worker(
                queue: "q", exec: ["/bin/sh", "-c", "echo one; echo two"], stderrDescriptor: pipe.writeEnd
            )
            defer { worker.kill() }
            pipe.closeWriteEnd()
            pipe.closeReadEnd()
            let id = try await fixture.enqueue("q")
            let probe = QueueProbe(server: server, queue: "q")
            try await waitUntil("the job is done") { try probe.isDone(id) || !worker.isRunning }
            #expect(worker.isRunning, "exit status \(worker.child.exitStatus.map(String.init) ?? "")")
            #expect(try probe.isDone(id))
            worker.signal(SIGTERM)
            let ended = try await worker.wait(timeout: .seconds(60))
            #expect(ended.status == 0)
        }
    }

    /// The one-line error of any command trapped the same way.
    @Test func anErrorLineOnAClosedStderrDoesNotTrap() async throws {
        let pipe = try StderrPipe()
        let ping = try SpoolProcess.start(["ping", "--redis", "redis://127.0.0.1:1"], stderrDescriptor: pipe.writeEnd)
        pipe.closeWriteEnd()
        pipe.closeReadEnd()
        let ended = try await ping.wait(timeout: .seconds(30))
        #expect(ended.status == 1)
    }

    /// With stdout's reader gone, Foundation's `FileHandle.write` trapped on EPIPE: `spool
    /// queues --json | head -c 1` died with status 132 and a backtrace on stderr.
    @Test func aClosedStdoutEndsACommandBySIGPIPENotATrap() async throws {
        try await withRedisServer { server in
            _ = try server.cli("SADD", "spool:queues", "emails")
            let pipe = try StderrPipe()   // a pipe: here stdout's, its reader gone before it starts
            pipe.closeReadEnd()
            let queues = try SpoolProcess.start(["queues", "--json", "--redis", server.url], stdoutDescriptor: pipe.writeEnd)
            pipe.closeWriteEnd()
            let ended = try await queues.wait(timeout: .seconds(30))
            #expect(ended.status == 128 + SIGPIPE, "status \(ended.status): \(ended.stderr)")
            #expect(ended.stderr.isEmpty, "\(ended.stderr)")
        }
    }

    /// A table (`print`, stdio's buffer) to a pipe whose reader was gone, or to a full disk,
    /// ended with status 0: only `--json` and the other direct writes reported it.
    @Test("a table that cannot be written ends the command: SIGPIPE with the reader gone, exit 1 naming the error on /dev/full or a closed stdout")
    func aTableThatCannotBeWrittenIsNotASuccess() async throws {
        try await withRedisServer { server in
            _ = try server.cli("SADD", "spool:queues", "emails")
            let pipe = try StderrPipe()   // stdout's pipe, its reader gone before the command starts
            pipe.closeReadEnd()
            let gone = try SpoolProcess.start(["queues", "--redis", server.url], stdoutDescriptor: pipe.writeEnd)
            pipe.closeWriteEnd()
            let ended = try await gone.wait(timeout: .seconds(30))
            #expect(ended.status == 128 + SIGPIPE, "status \(ended.status): \(ended.stderr)")
            #expect(ended.stderr.isEmpty, "\(ended.stderr)")

            let full = open("/dev/full", O_WRONLY)
            try #require(full >= 0, "no /dev/full")
            defer { close(full) }
            let failed = try await SpoolProcess.start(["queues", "--redis", server.url], stdoutDescriptor: full).wait(timeout: .seconds(30))
            #expect(failed.status == 1, "status \(failed.status): \(failed.stderr)")
            #expect(failed.stderrLines == ["spool: the command ran, but writing its output failed: No space left on device"], "\(failed.stderr)")

            // stdout closed: the table went into whatever descriptor took number 1 (exit 1 with
            // "Invalid argument", or 0)
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let closed = try ChildProgram(
                executable: "/bin/sh", arguments: ["-c", #"exec "$0" queues --redis "$1" >&-"#, try SpoolProcess.binary(), server.url],
                directory: directory, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") },
                stdinPath: nil, stdoutPath: directory + "/out", stderrPath: directory + "/err"
            )
            defer { if closed.exitStatus == nil { kill(closed.pid, SIGKILL); _ = closed.exitStatus } }
            try await waitUntil("the command ends", within: .seconds(30)) { closed.exitStatus != nil }
            let stderr = (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? ""
            #expect(closed.exitStatus == 1, "\(stderr)")
            #expect(stderr == "spool: the command ran, but writing its output failed: Bad file descriptor\n", "\(stderr)")
        }
    }

    /// Text log values were quoted only for a space, a quote or a newline: a job type holding a
    /// tab, `=` and ESC passed through raw, so a logfmt reader saw a second `spool.job.id` and a
    /// terminal cleared its screen. (Another producer wrote the type: `spool enqueue --type`
    /// refuses control characters.)
    @Test func aJobTypeCannotForgeALogKeyNorReachATerminalRaw() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let type = "x\tspool.job.id=forged\u{1B}[2J"
            _ = try server.cli("XADD", "spool:{q}:stream", "*", "v", "1", "id", "0190ff3c-5e4a-7b21-9c3d-4e5f607182d1", "type", type, "payload", "{}")
            let worker = try fixture.worker(queue: "q", ["--max-attempts", "1"], exec: ["/bin/false"])
            defer { worker.kill() }
            let probe = QueueProbe(server: server, queue: "q")
            try await waitUntil("the job is dead-lettered", within: .seconds(30)) { try probe.deadCount() == 1 }
            worker.signal(SIGTERM)
            let ended = try await worker.wait(timeout: .seconds(60))
            #expect(ended.status == 0)
            let lines = ended.stderr.split(separator: "\n").filter { $0.contains("spool.job.type=") }
            #expect(!lines.isEmpty, "\(ended.stderr)")
            for line in lines {
                #expect(line.contains(#"spool.job.type="x\tspool.job.id=forged\u001b[2J""#), "\(line)")
                #expect(!line.contains("\t") && !line.contains("\u{1B}"), "\(line)")
            }
        }
    }

    /// Signals were trapped only once the worker was connected: SIGTERM while its first PING
    /// was in flight killed it (status 143, no message), where docs/worker.md promises 0.
    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalWhileConnectingEndsTheWorkerWithStatusZero(signal: Int32) async throws {
        let listener = try SilentListener()
        let worker = try SpoolProcess.start([
            "worker", "--redis", "redis://127.0.0.1:\(listener.port)", "--timeout", "60s",
            "--queue", "q", "--exec", "/bin/true",
        ])
        defer { worker.kill() }
        try await waitUntil("the worker sent its first command") { listener.poll() > 0 }
        #expect(worker.isRunning)
        worker.signal(signal)
        let ended = try await worker.wait(timeout: .seconds(60))
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("shutting down while starting"), "\(ended.stderr)")
    }
}
