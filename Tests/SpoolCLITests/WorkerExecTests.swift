import Foundation
import SpoolTesting
import Testing

/// `spool worker --exec`: argv without a shell, stdin and environment, exit statuses, timeouts.
@Suite(.timeLimit(.minutes(2)))
struct WorkerExecTests {
    @Test func argvReachesTheProgramVerbatimWithPayloadAndEnvironment() async throws {
        try await withRedisServer(.init(password: "worker-secret-55")) { server in
            let fixture = try WorkerFixture(server: server)
            let dump = try fixture.script("dump.sh", """
                out="$1"; shift
                printf '%s\\n' "$@" > "$out/argv.tmp"
                env > "$out/env.tmp"
                cat > "$out/stdin.tmp"
                mv "$out/stdin.tmp" "$out/stdin"; mv "$out/env.tmp" "$out/env"; mv "$out/argv.tmp" "$out/argv"
                """)
            let tricky = ["$(touch pwned)", ";", "|", "*", "a b", "`touch pwned2`", "&&", ">x", "$HOME", "'quoted'"]
            let worker = try SpoolProcess.start(
                ["worker", "--queue", "dump", "--exec", dump, fixture.directory] + tricky,
                in: fixture.directory,
                environment: ["SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": "worker-secret-55"]
            )
            defer { worker.kill() }
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let result = try await SpoolProcess.run(
                [
                    "enqueue", "dump", "--type", "my.type", "--traceparent", traceparent, "--tracestate", "rojo=00f067aa0ba902b7",
                    "--data", #"{"payload": "ünïcode $(x)"}"#,
                ],
                in: fixture.directory,
                environment: ["SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": "worker-secret-55"]
            )
            #expect(result.status == 0, "\(result.stderr)")
            let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try await waitUntil("the handler ran") { !fixture.read("argv").isEmpty }

            #expect(fixture.read("argv") == tricky.joined(separator: "\n") + "\n")
            #expect(fixture.read("stdin") == #"{"payload": "ünïcode $(x)"}"#)
            let files = try FileManager.default.contentsOfDirectory(atPath: fixture.directory)
            #expect(!files.contains("pwned") && !files.contains("pwned2") && !files.contains("x"), "\(files)")

            let env = Set(fixture.read("env").split(separator: "\n").map(String.init))
            #expect(env.contains("SPOOL_JOB_ID=\(id)"))
            #expect(env.contains("SPOOL_QUEUE=dump"))
            #expect(env.contains("SPOOL_GROUP=default"))
            #expect(env.contains("SPOOL_JOB_TYPE=my.type"))
            #expect(env.contains("SPOOL_ATTEMPT=1"))
            #expect(env.contains("TRACEPARENT=\(traceparent)"))
            #expect(env.contains("TRACESTATE=rojo=00f067aa0ba902b7"))
            #expect(env.contains { $0.range(of: #"^SPOOL_ENQUEUED_AT=\d{13}$"#, options: .regularExpression) != nil })
            #expect(!env.contains { $0.hasPrefix("SPOOL_REDIS") }, "\(env)")
            #expect(!fixture.read("env").contains("worker-secret-55"))
            #expect(!worker.stderr.contains("worker-secret-55"))
        }
    }

    /// Another producer may store any text as a job's traceparent (`spool enqueue` refuses
    /// one that is not W3C trace context): the worker passes none on instead.
    @Test func anInvalidStoredTraceparentIsNotPassedOn() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let dump = try fixture.script("dump.sh", """
                env > "$1/env.tmp"; mv "$1/env.tmp" "$1/env-$SPOOL_JOB_ID"
                """)
            let id = "0190a0b0-1234-7000-8000-00000000abcd"
            _ = try server.cli(
                "XADD", "spool:{raw}:stream", "*", "v", "1", "id", id, "type", "raw", "payload", "{}", "traceparent", "zz-NOT-A-TRACE",
                "tracestate", "rojo=1"
            )
            // (`spool worker` starts a new group at the beginning of the stream)
            let worker = try fixture.worker(queue: "raw", exec: [dump, fixture.directory])
            defer { worker.kill() }
            try await waitUntil("the raw job ran", within: .seconds(60)) { !fixture.read("env-\(id)").isEmpty }
            let env = fixture.read("env-\(id)")
            #expect(!env.contains("TRACEPARENT=") && !env.contains("TRACESTATE="), "\(env.split(separator: "\n").filter { $0.contains("TRACE") })")
        }
    }

    @Test func exitStatusesDecideDoneRetryAndDeadLetter() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let handler = try fixture.script("handler.sh", """
                case "$SPOOL_JOB_TYPE" in
                  ok) exit 0 ;;
                  temp) echo "temporary trouble on attempt $SPOOL_ATTEMPT" >&2; exit 75 ;;
                  bad) head -c 5000 /dev/zero | tr '\\0' 'a' >&2; echo >&2; echo "bad input detail" >&2; exit 65 ;;
                  signal) kill -USR1 $$ ;;
                esac
                exit 3
                """)
            let worker = try fixture.worker(
                queue: "jobs", ["--max-attempts", "3", "--backoff-base", "50ms", "--backoff-max", "100ms"], exec: [handler]
            )
            defer { worker.kill() }
            let ok = try await fixture.enqueue("jobs", ["--type", "ok"])
            let temp = try await fixture.enqueue("jobs", ["--type", "temp"])
            let bad = try await fixture.enqueue("jobs", ["--type", "bad"])
            let signal = try await fixture.enqueue("jobs", ["--type", "signal"])
            let probe = QueueProbe(server: server, queue: "jobs")
            try await waitUntil("three dead letters and one done") {
                try probe.deadCount() == 3 && probe.doneCount() == 1
            }
            #expect(try probe.isDone(ok))
            let letters = try probe.deadLetters()
            let tempLetter = try #require(letters.first { $0["id"] == temp })
            #expect(tempLetter["dead_reason"] == "retries_exhausted")
            #expect(tempLetter["dead_attempts"] == "3")
            #expect(tempLetter["dead_error"] == "exited with status 75: temporary trouble on attempt 3", "\(tempLetter)")
            let badLetter = try #require(letters.first { $0["id"] == bad })
            #expect(badLetter["dead_reason"] == "non_retryable")
            #expect(badLetter["dead_attempts"] == "1", "\(badLetter) \(worker.stderr)")
            let error = badLetter["dead_error"] ?? ""
            #expect(error.hasPrefix("exited with status 65 (permanent failure): ..."), "\(error.prefix(80))")
            #expect(error.hasSuffix("bad input detail"), "\(error.suffix(80))")
            #expect(error.utf8.count <= 2_000)
            // the program's death by a signal, as the worker saw it through the trampoline
            let signalLetter = try #require(letters.first { $0["id"] == signal })
            #expect(signalLetter["dead_reason"] == "retries_exhausted")
            #expect(signalLetter["dead_error"] == "killed by signal \(SIGUSR1)", "\(signalLetter)")
        }
    }

    @Test func aHangingProgramAndItsChildAreKilledAtTheTimeout() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let hang = try fixture.script("hang.sh", """
                sleep 300 &
                echo $! > "$1/child.tmp"; mv "$1/child.tmp" "$1/child.pid"
                echo $$ > "$1/main.tmp"; mv "$1/main.tmp" "$1/main.pid"
                wait
                """)
            // 20 s: the program must have written both pids before the timeout, on a loaded
            // machine too; the 300 s sleep shows that the timeout, not the program, ended it
            let worker = try fixture.worker(
                queue: "slow", ["--handler-timeout", "20s", "--max-attempts", "1"], exec: [hang, fixture.directory]
            )
            defer { worker.kill() }
            let id = try await fixture.enqueue("slow")
            let probe = QueueProbe(server: server, queue: "slow")
            try await waitUntil("the program and its child run", within: .seconds(60)) {
                if fixture.pid("main.pid") != nil && fixture.pid("child.pid") != nil { return true }
                if try probe.deadCount() > 0 { throw TestFailure("timed out before the program wrote its pids") }
                return false
            }
            let main = try #require(fixture.pid("main.pid"))
            let child = try #require(fixture.pid("child.pid"))
            defer { for pid in [main, child] where !processEnded(pid) { kill(pid, SIGKILL) } }
            try await waitUntil("the job was dead-lettered", within: .seconds(60)) { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["id"] == id)
            #expect(letter["dead_error"]?.contains("timed out") == true, "\(letter)")
            try await waitUntil("the program and its child are gone", within: .seconds(60)) {
                processEnded(main) && processEnded(child)
            }
            #expect(worker.isRunning)
        }
    }

    @Test func aProgramThatMakesItsOwnProcessGroupIsKilledWithItsChildAtTheTimeout() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // GNU timeout puts itself in a process group of its own (setpgid), which the
            // worker's SIGKILL of the program's group does not reach; the trampoline kills it
            let worker = try fixture.worker(
                queue: "slow", ["--handler-timeout", "20s", "--max-attempts", "1"],
                exec: ["timeout", "300", try fixture.sleeperScript(), fixture.directory]
            )
            defer { worker.kill() }
            _ = try await fixture.enqueue("slow")
            // the child runs before the timeout (20 s: a loaded machine may take a while to start it)
            try await waitUntil("the program's child runs", within: .seconds(60)) { fixture.pid("child.pid") != nil }
            let sleeper = try #require(fixture.pid("child.pid"))
            defer { if !processEnded(sleeper) { kill(sleeper, SIGKILL) } }
            let probe = QueueProbe(server: server, queue: "slow")
            try await waitUntil("the job was dead-lettered", within: .seconds(60)) { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["dead_error"]?.contains("timed out") == true, "\(letter)")
            try await waitUntil("the program's child is gone", within: .seconds(60)) { processEnded(sleeper) }
            #expect(worker.isRunning)
        }
    }

    /// A program writing lines with quotes, a tab, a backslash, a byte that is not UTF-8, a
    /// line longer than the 16 KiB a line is passed on in, and a last line without a newline.
    static let talkativeProgram = """
        printf 'first line\\n'
        printf 'a "quoted" \\\\ line\\twith tab\\n'
        printf '\\377 not utf-8\\n'
        head -c 20000 /dev/zero | tr '\\0' 'x'; printf '\\n'
        printf 'no newline at the end'
        """

    @Test func inTheJSONLogFormatEachLineOfStdoutIsARecordOfItsOwn() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let talk = try fixture.script("talk.sh", Self.talkativeProgram)
            let worker = try fixture.worker(queue: "talk", ["--log-format", "json", "--log-level", "error"], exec: [talk])
            defer { worker.kill() }
            let id = try await fixture.enqueue("talk", ["--type", "chatty"])
            try await waitUntil("the last line was logged") { worker.stderr.contains("no newline at the end") }

            var records: [[String: Any]] = []
            for line in worker.stderr.split(separator: "\n") {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "not a JSON object: \(line.prefix(200))")
                if let object, object["label"] as? String == "spool.exec" { records.append(object) }
            }
            let expected = [
                "first line", "a \"quoted\" \\ line\twith tab", "\u{FFFD} not utf-8",
                String(repeating: "x", count: 16 * 1024), String(repeating: "x", count: 20_000 - 16 * 1024),
                "no newline at the end",
            ]
            #expect(records.map { $0["msg"] as? String } == expected)
            for record in records {
                #expect(record["spool.job.id"] as? String == id && record["spool.job.type"] as? String == "chatty")
                #expect(record["spool.queue"] as? String == "talk" && record["spool.attempt"] as? String == "1")
                #expect(record["exec.stream"] as? String == "stdout" && record["level"] as? String == "info")
            }
        }
    }

    @Test func inTheTextLogFormatStdoutIsPassedOnAsItIs() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let talk = try fixture.script("talk.sh", Self.talkativeProgram)
            let worker = try fixture.worker(queue: "talk", exec: [talk])
            defer { worker.kill() }
            _ = try await fixture.enqueue("talk")
            try await waitUntil("the last line was passed on") { worker.stderr.contains("no newline at the end\n") }
            let lines = worker.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let first = try #require(lines.firstIndex(of: "first line"), "\(worker.stderr.prefix(2000))")
            #expect(Array(lines[first...].prefix(5)) == [
                "first line", "a \"quoted\" \\ line\twith tab", "\u{FFFD} not utf-8",
                String(repeating: "x", count: 20_000), "no newline at the end",
            ])
        }
    }

    @Test func aMissingProgramFailsAtStartWithOneLine() async throws {
        try await withRedisServer { server in
            let result = try await SpoolProcess.run(["worker", "--redis", server.url, "--queue", "q", "--exec", "./no-such-program"])
            #expect(result.status == 1)
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("no-such-program"))
        }
    }
}
