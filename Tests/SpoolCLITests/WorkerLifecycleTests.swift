import Foundation
import SpoolTesting
import Testing

/// Signals, the config file and the private Redis.
@Suite(.timeLimit(.minutes(2)))
struct WorkerLifecycleTests {
    @Test func sigtermHandsUnfinishedJobsBackAndASecondWorkerFinishesThem() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let slow = try fixture.script("slow.sh", """
                echo "$SPOOL_JOB_ID" >> "$1/started"
                sleep 30
                """)
            let fast = try fixture.script("fast.sh", "echo \"$SPOOL_JOB_ID\" >> \"$1/finished\"\n")
            let first = try fixture.worker(
                queue: "work", ["--concurrency", "2", "--grace-period", "300ms"], exec: [slow, fixture.directory]
            )
            defer { first.kill() }
            var ids: [String] = []
            for _ in 0..<5 { ids.append(try await fixture.enqueue("work")) }
            try await waitUntil("two jobs started") {
                fixture.read("started").split(separator: "\n").count == 2
            }
            first.signal(SIGTERM)
            let ended = try await first.wait(timeout: .seconds(60))
            #expect(ended.status == 0, "\(ended.stderr)")
            let probe = QueueProbe(server: server, queue: "work")
            #expect(try probe.doneCount() == 0)
            #expect(try probe.deadCount() == 0)
            // the two it cut off are handed back to the group: in its retry schedule, due now, or
            // already in its retry stream if the worker's promoter ran before it exited
            #expect(try probe.pending() == 0)
            #expect(try probe.count("ZCARD", "spool:{work}:sched:default") + probe.count("XLEN", "spool:{work}:retry:default") == 2)

            let second = try fixture.worker(queue: "work", exec: [fast, fixture.directory])
            defer { second.kill() }
            try await waitUntil("every job is done") { try probe.doneCount() == 5 }
            let finished = Set(fixture.read("finished").split(separator: "\n").map(String.init))
            #expect(finished == Set(ids))
            second.signal(SIGTERM)
            #expect(try await second.wait(timeout: .seconds(60)).status == 0)
        }
    }

    @Test func aSecondSignalKillsAProgramsOwnProcessGroupToo() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // GNU timeout, the program, moves itself to a process group of its own: the worker's
            // SIGKILL of the trampoline's group does not reach it, the trampoline's handler does
            let worker = try fixture.worker(
                queue: "work", ["--grace-period", "60s"], exec: ["timeout", "300", try fixture.sleeperScript(), fixture.directory]
            )
            defer { worker.kill() }
            _ = try await fixture.enqueue("work")
            try await waitUntil("the program's child runs") { fixture.pid("child.pid") != nil }
            let sleeper = try #require(fixture.pid("child.pid"))
            defer { if !processEnded(sleeper) { kill(sleeper, SIGKILL) } }
            try await worker.signalTwice(SIGTERM, then: SIGINT)
            #expect(try await worker.wait(timeout: .seconds(60)).status == 1)
            try await waitUntil("the program's child is gone", within: .seconds(60)) { processEnded(sleeper) }
        }
    }

    /// A worker (grace period 60 s, and `flags`) running a job that sleeps 300 s, once the job
    /// has written its pid to `main.pid` in the fixture's directory.
    static func workerWithASlowJob(_ fixture: WorkerFixture, _ flags: [String] = []) async throws -> SpoolProcess {
        let slow = try fixture.script("slow.sh", "echo $$ > \"$1/main.pid\"\nsleep 300\n")
        let worker = try fixture.worker(queue: "work", ["--grace-period", "60s"] + flags, exec: [slow, fixture.directory])
        do {
            _ = try await fixture.enqueue("work")
            try await waitUntil("the job started") { !fixture.read("main.pid").isEmpty }
        } catch {
            worker.kill()
            throw error
        }
        return worker
    }

    @Test func aSecondSignalExitsAtOnceAndKillsRunningPrograms() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let worker = try await Self.workerWithASlowJob(fixture)
            defer { worker.kill() }
            let main = try #require(Int32(fixture.read("main.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            try await worker.signalTwice(SIGTERM, then: SIGINT)
            let ended = try await worker.wait(timeout: .seconds(30))
            #expect(ended.status == 1)
            #expect(ended.stderr.contains("spool: exiting at once"))
            try await waitUntil("the handler program is gone", within: .seconds(60)) { processEnded(main) }
            #expect(try QueueProbe(server: server, queue: "work").pending() == 1)
        }
    }

    /// GNU `timeout` sends its signal to the worker, then to its own process group, the worker
    /// included: the worker took the second as a second request and exited at once, leaving its
    /// jobs to be reclaimed.
    @Test("a signal less than 1 s after the first is the same request: the shutdown stays graceful; one later exits at once")
    func aRepeatedSignalWithinASecondIsTheSameRequest() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // a job that runs on, so the worker is still shutting down when the signals come
            let worker = try await Self.workerWithASlowJob(fixture)
            defer { worker.kill() }
            let first = ContinuousClock.now
            worker.signal(SIGTERM)
            try await waitUntil("the worker logged the graceful shutdown") { worker.stderr.contains("shutting down gracefully") }
            worker.signal(SIGTERM)
            // Under 0.5 s since the first was sent, the worker saw the two well within its window
            // (it handled the first after it was sent). A test held up longer cannot tell.
            guard ContinuousClock.now - first < .milliseconds(500) else { return }
            try await waitUntil("the repeat is logged as the same request") {
                if !worker.isRunning { throw TestFailure("the worker exited: \(worker.stderr)") }
                return worker.stderr.contains("a signal within 1 s of the first is taken as the same request")
            }
            #expect(worker.isRunning, "\(worker.stderr)")
            // a signal 1 s after that one is a second request
            try await Task.sleep(for: .milliseconds(1100))
            worker.signal(SIGTERM)
            let ended = try await worker.wait(timeout: .seconds(30))
            #expect(ended.status == 1, "\(ended.stderr)")
            #expect(ended.stderr.contains("exiting at once on a second SIGTERM"), "\(ended.stderr)")
        }
    }

    /// The exit-at-once line was plain text (`spool: exiting at once …`) in JSON mode too,
    /// which a JSON log parser cannot read.
    @Test func inJSONModeEveryStderrLineOfASecondSignalExitIsJSON() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let worker = try await Self.workerWithASlowJob(fixture, ["--log-format", "json"])
            defer { worker.kill() }
            try await worker.signalTwice(SIGTERM, then: SIGTERM)
            let ended = try await worker.wait(timeout: .seconds(30))
            #expect(ended.status == 1)
            var objects: [[String: Any]] = []
            for line in ended.stderr.split(separator: "\n") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "not a JSON object: \(line)")
                if let object { objects.append(object) }
            }
            let last = try #require(objects.last)
            #expect((last["msg"] as? String)?.hasPrefix("exiting at once on a second SIGTERM") == true, "\(last)")
            #expect(last["level"] as? String == "error" && last["label"] as? String == "spool.worker", "\(last)")
            #expect(last["signal"] as? String == "SIGTERM" && last["ts"] is String && last["redis.url"] is String, "\(last)")
            #expect(!ended.stderr.contains("spool: exiting"))
        }
    }

    @Test func aConfigFileServesSeveralSubscriptions() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let record = try fixture.script("record.sh", "echo \"$SPOOL_QUEUE $SPOOL_GROUP $2\" >> \"$1/seen\"\n")
            let worker = try fixture.worker(config: """
                grace_period: 1s
                heartbeat_ttl: 3s
                defaults:
                  max_attempts: 2
                  backoff_base: 50ms
                subscriptions:
                  - queue: emails
                    exec: [\(record), \(fixture.directory), "from emails"]
                    concurrency: 2
                  - queue: 2024
                    group: billing
                    exec: [\(record), \(fixture.directory), 0x1F]
                """)
            defer { worker.kill() }
            _ = try await fixture.enqueue("emails")
            _ = try await fixture.enqueue("2024")
            try await waitUntil("both jobs ran") { fixture.read("seen").split(separator: "\n").count == 2 }
            let seen = Set(fixture.read("seen").split(separator: "\n").map(String.init))
            // plain scalars reach the program as written: YAML's own typing read `0x1F` as 31,
            // and a queue written `2024` as missing
            #expect(seen == ["emails default from emails", "2024 billing 0x1F"])
            worker.signal(SIGTERM)
            #expect(try await worker.wait(timeout: .seconds(60)).status == 0)
        }
    }

    @Test(arguments: [
        ("subscriptions:\n  - queue: q\n    exec: [/bin/true]\n    concurency: 3\n", "unknown key \"concurency\""),
        ("subscriptions: []\n", "non-empty list"),
        ("subscriptions:\n  - queue: \"bad name\"\n    exec: [/bin/true]\n", "queue name"),
        ("subscriptions:\n  - queue: q\n", "exactly one of exec"),
        ("grace_period: soon\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "grace_period"),
        ("subscriptions:\n  - queue: q\n    exec: [/bin/true]\n    max_attempts: 2.5\n", "max_attempts: expected a whole number"),
        ("allow_private_network: maybe\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "allow_private_network: expected true or false"),
        // Yams's first line held the context but not the problem, nor, for a repeated key, where
        ("a: [unclosed\n", "spool.yml: invalid YAML: line 2, column 1: did not find expected ',' or ']' "
            + "(while parsing a flow sequence at line 1, column 4)"),
        ("subscriptions:\n  - queue: q\n    exec: [/bin/true]\n   concurrency: 2\n",
         "spool.yml: invalid YAML: line 4, column 4: did not find expected '-' indicator (while parsing a block collection at line 2, column 3)"),
        ("grace_period: 5s\ngrace_period: 6s\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n",
         "spool.yml: invalid YAML: line 1, column 1: key \"grace_period\" given more than once in one mapping: keep one of each"),
        // the base from the file's defaults, the cap from the built-in defaults
        ("defaults:\n  backoff_base: 10m\nsubscriptions:\n  - queue: q\n    exec: [/bin/true]\n", "queue q: backoff base 600s is above backoff max 300s"),
    ])
    func aBadConfigFileIsOneLineAndExitsOne(yaml: String, expected: String) async throws {
        let result = try await workerWithConfig(yaml)
        #expect(result.status == 1)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }

    /// A config file can hold secrets (an `http` handler's URL with a token, an `exec` argument):
    /// a YAML error names the place and the problem, never the file's text (Yams's own
    /// description quotes the line).
    @Test(arguments: [
        "subscriptions:\n  - queue: q\n    http: https://h/hook?token=CANARY-7f3a: x\n",
        "subscriptions:\n  - queue: q\n    exec: [/bin/prog, --token, CANARY-7f3a}\n",
        "subscriptions:\n  - queue: q\n    exec: [/bin/true, CANARY-7f3a]\n    exec: [/bin/true]\n",
        "subscriptions:\n  - queue: q\n    exec: [/bin/true, \"CANARY-7f3a\u{7}\"]\n",
    ])
    func aBadConfigFileNeverShowsItsText(yaml: String) async throws {
        let result = try await workerWithConfig(yaml)
        #expect(result.status == 1)
        #expect(result.stderr.contains("spool.yml: invalid YAML: "), "\(result.stderr)")
        #expect(!result.stderr.contains("CANARY") && !result.stdout.contains("CANARY"), "\(result.stderr)")
    }

    @Test func thePrivateRedisWorksFromAnEmptyDirectory() async throws {
        let directory = try TempDirectory.make()
        defer { _ = try? FileManager.default.removeItem(atPath: directory) }
        do {
            let first = try await SpoolProcess.run(["enqueue", "hello", "--data", #"{"n": 1}"#], in: directory)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stderr == "spool: using private Redis at unix://\(directory)/.spool/redis.sock (stop it with `spool redis stop`)\n")
            let pid = try #require(Int32((try String(contentsOfFile: "\(directory)/.spool/redis.pid", encoding: .utf8))
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            // the second command reuses the same server
            let second = try await SpoolProcess.run(["enqueue", "hello", "--data", #"{"n": 2}"#], in: directory)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(try String(contentsOfFile: "\(directory)/.spool/redis.pid", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines) == "\(pid)")
            #expect(FileManager.default.fileExists(atPath: "\(directory)/.spool/appendonlydir"))

            let stop = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(stop.stdout.contains("stopped the private Redis (pid \(pid))"))
            #expect(processEnded(pid))
            let again = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(again.status == 0)
            #expect(again.stdout.contains("no private Redis is running"))
        } catch {
            _ = try? await SpoolProcess.run(["redis", "stop"], in: directory)
            throw error
        }
    }

    @Test func aRedisURLTurnsThePrivateRedisOff() async throws {
        try await withRedisServer { server in
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let result = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory, environment: ["SPOOL_REDIS_URL": server.url])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/.spool"))
        }
    }
}
