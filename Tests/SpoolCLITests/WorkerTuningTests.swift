import Foundation
import SpoolTesting
import Testing

/// `spool worker`'s throughput settings: `--prefetch`, `--dedicated-thread`, `--busy-poll-us`
/// (and their config keys) reach the worker.
@Suite(.timeLimit(.minutes(2)))
struct WorkerTuningTests {
    /// With one handler slot and a prefetch of 3 the worker holds 4 jobs (1 running, 3 read
    /// ahead) while only one handler runs; without the prefetch it would hold 1. The prefetch
    /// comes from the flag, a subscription's key, or the config file's `defaults:`.
    @Test(arguments: ["flag", "subscription", "defaults"])
    func prefetchHoldsJobsAheadOfTheFreeSlots(from source: String) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let gated = try fixture.script("gated.sh", """
                echo "$SPOOL_JOB_ID" >> "$1/started"
                while [ ! -e "$1/go" ]; do sleep 0.05; done
                echo "$SPOOL_JOB_ID" >> "$1/finished"
                """)
            let worker: SpoolProcess
            if source == "flag" {
                worker = try fixture.worker(queue: "work", ["--concurrency", "1", "--prefetch", "3"], exec: [gated, fixture.directory])
            } else {
                let defaults = source == "defaults" ? "defaults:\n  prefetch: 3\n" : ""
                let own = source == "subscription" ? "    prefetch: 3\n" : ""
                worker = try fixture.worker(config: """
                    \(defaults)subscriptions:
                      - queue: work
                        exec: [\(gated), \(fixture.directory)]
                        concurrency: 1

                    """ + own)
            }
            defer { worker.kill() }
            for _ in 0..<6 { _ = try await fixture.enqueue("work") }
            let probe = QueueProbe(server: server, queue: "work")
            // both at once: the first read may take all four before the first handler starts
            try await waitUntil("the worker holds four jobs, one of them started") {
                try probe.pending() == 4 && fixture.read("started").split(separator: "\n").count == 1
            }
            #expect(FileManager.default.createFile(atPath: "\(fixture.directory)/go", contents: nil))
            try await waitUntil("every job is done") { try probe.doneCount() == 6 }
            #expect(Set(fixture.read("finished").split(separator: "\n")).count == 6)
            worker.signal(SIGTERM)
            #expect(try await worker.wait(timeout: .seconds(60)).status == 0)
        }
    }

    /// `--dedicated-thread` (or `dedicated_thread: true`) runs the worker on a thread of its
    /// own, named `spool-loop`; without it there is no such thread.
    @Test(arguments: [(false, false), (true, false), (true, true)])
    func dedicatedThreadRunsTheWorkerOnItsOwnThread(dedicated: Bool, fromConfig: Bool) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let record = try fixture.script("record.sh", "echo \"$SPOOL_JOB_ID\" >> \"$1/finished\"\n")
            let worker: SpoolProcess
            if fromConfig {
                worker = try fixture.worker(config: """
                    dedicated_thread: true
                    busy_poll_us: 0
                    subscriptions:
                      - queue: work
                        exec: [\(record), \(fixture.directory)]
                    """)
            } else {
                let flags = dedicated ? ["--dedicated-thread", "--busy-poll-us", "0"] : []
                worker = try fixture.worker(queue: "work", flags, exec: [record, fixture.directory])
            }
            defer { worker.kill() }
            let id = try await fixture.enqueue("work")
            try await waitUntil("the job ran") { fixture.read("finished").contains(id) }
            let names = Self.threadNames(worker.child.pid)
            #expect(names.contains("spool-loop") == dedicated, "\(names)")
            // and the worker says so at start
            try await waitUntil("the worker logged its subscription") { worker.stderr.contains("worker subscribed") }
            #expect(worker.stderr.contains("spool.dedicated_thread=\(dedicated)"), "\(worker.stderr)")
            // the worker's Redis connections have threads of their own either way
            #expect(names.contains { $0.hasPrefix("spool-conn-") }, "\(names)")
            worker.signal(SIGTERM)
            #expect(try await worker.wait(timeout: .seconds(60)).status == 0)
        }
    }

    @Test("bad prefetch and busy-poll values are refused in one line, before Redis is reached", arguments: [
        (["--prefetch", "1001"], "prefetch must be 0...1000 (got 1001)", Int32(64)),
        (["--busy-poll-us", "20000", "--dedicated-thread"], "busy poll must be 0...10000 microseconds (got 20000)", 64),
        (["--busy-poll-us", "50"], "busy poll applies to a worker with a thread of its own: add --dedicated-thread", 64),
    ])
    func badFlags(flags: [String], expected: String, status: Int32) async throws {
        let run = try await SpoolProcess.run(
            ["worker", "--redis", "redis://127.0.0.1:1", "--queue", "q"] + flags + ["--exec", "/bin/true"]
        )
        #expect(run.status == status, "\(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.contains(expected), "\(run.stderr)")
    }

    /// A flag's own value out of range is a usage error with a config file too.
    @Test func aBusyPollFlagOutOfRangeIsAUsageErrorWithAConfigFile() async throws {
        let run = try await workerWithConfig(
            "dedicated_thread: true\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", flags: ["--busy-poll-us", "20000"]
        )
        #expect(run.status == 64, "\(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.contains("busy poll must be 0...10000 microseconds (got 20000)"), "\(run.stderr)")
    }

    @Test("bad prefetch and busy-poll keys in a config file are refused in one line with exit 1", arguments: [
        ("subscriptions:\n  - queue: q\n    exec: [/bin/true]\n    prefetch: -1\n", "subscriptions[0]: prefetch must be 0...1000 (got -1)"),
        ("defaults:\n  prefetch: many\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "defaults: prefetch: expected a whole number"),
        ("busy_poll_us: 5\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "busy poll applies to a worker with a thread of its own"),
        ("dedicated_thread: sometimes\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "dedicated_thread: expected true or false"),
    ])
    func badConfigKeys(yaml: String, expected: String) async throws {
        let run = try await workerWithConfig(yaml)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.contains(expected), "\(run.stderr)")
    }

    /// The names of the threads of process `pid` (Linux's `/proc/<pid>/task/*/comm`).
    private static func threadNames(_ pid: pid_t) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
