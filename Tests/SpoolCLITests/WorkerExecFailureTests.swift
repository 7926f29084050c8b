import Foundation
import SpoolTesting
import Testing

/// `spool worker --exec` when the worker or the start of a program fails: a killed worker's
/// program dies with it, a program that cannot start costs its job no attempt, and a
/// concurrency the file limit cannot hold is refused at start.
@Suite(.timeLimit(.minutes(2)))
struct WorkerExecFailureTests {
    @Test func theProgramDiesWithAWorkerThatIsKilled() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let long = try fixture.script("long.sh", """
                echo $$ > "$1/main.tmp"; mv "$1/main.tmp" "$1/main.pid"
                exec sleep 300
                """)
            let worker = try fixture.worker(queue: "long", exec: [long, fixture.directory])
            defer { worker.kill() }
            _ = try await fixture.enqueue("long")
            try await waitUntil("the program runs") { !fixture.read("main.pid").isEmpty }
            let main = try #require(Int32(fixture.read("main.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            defer { kill(main, SIGKILL) }
            #expect(!processEnded(main))

            worker.kill()  // SIGKILL: no chance to kill its children itself
            #expect(!worker.isRunning)
            // the program ends with the worker instead of sleeping its 300 s (the limit bounds a hang)
            try await waitUntil("the program is gone", within: .seconds(60)) { processEnded(main) }
        }
    }

    @Test func theProgramsChildrenDieWithAWorkerThatIsKilled() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // A signal the program sends its own process group (`kill 0`) reaches the
            // trampoline between the worker and the program too: the quick job shows that it
            // does not change the outcome (ended by it, the trampoline would fail every attempt).
            let parent = try fixture.script("parent.sh", """
                if [ "$SPOOL_JOB_TYPE" = quick ]; then trap '' TERM; kill 0; exit 0; fi
                sleep 300 &
                echo $! > "$1/child.tmp"; mv "$1/child.tmp" "$1/child.pid"
                echo $$ > "$1/main.tmp"; mv "$1/main.tmp" "$1/main.pid"
                wait
                """)
            let worker = try fixture.worker(queue: "parents", exec: [parent, fixture.directory])
            defer { worker.kill() }
            let probe = QueueProbe(server: server, queue: "parents")
            _ = try await fixture.enqueue("parents", ["--type", "quick"])
            try await waitUntil("the quick job is done") { try probe.doneCount() == 1 }
            #expect(try probe.deadCount() == 0)

            _ = try await fixture.enqueue("parents")
            try await waitUntil("the program runs") { !fixture.read("main.pid").isEmpty }
            let main = try #require(Int32(fixture.read("main.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            let child = try #require(Int32(fixture.read("child.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            defer { kill(main, SIGKILL); kill(child, SIGKILL) }
            #expect(!processEnded(child))

            worker.kill()  // SIGKILL
            try await waitUntil("the program and its child are gone", within: .seconds(60)) {
                processEnded(main) && processEnded(child)
            }
        }
    }

    @Test func aProgramsOwnProcessGroupDiesWithAWorkerThatIsKilled() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // GNU timeout, the program, moves itself to a process group of its own
            let worker = try fixture.worker(queue: "timed", exec: ["timeout", "300", try fixture.sleeperScript(), fixture.directory])
            defer { worker.kill() }
            _ = try await fixture.enqueue("timed")
            try await waitUntil("the program's child runs") { fixture.pid("child.pid") != nil }
            let sleeper = try #require(fixture.pid("child.pid"))
            defer { if !processEnded(sleeper) { kill(sleeper, SIGKILL) } }

            worker.kill()  // SIGKILL
            try await waitUntil("the program's child is gone", within: .seconds(60)) { processEnded(sleeper) }
        }
    }

    @Test func aProgramThatCannotStartCostsTheJobNoAttempt() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let handler = try fixture.script("handler.sh", #"echo "$SPOOL_ATTEMPT" > "$1/attempt""#)
            let worker = try fixture.worker(queue: "deploy", ["--max-attempts", "1"], exec: [handler, fixture.directory])
            defer { worker.kill() }
            try await waitUntil("the worker serves the queue") { worker.stderr.contains("serving queue") }
            // a deploy that is not atomic: the program is gone for a while
            #expect(rename(handler, handler + ".away") == 0)
            let id = try await fixture.enqueue("deploy")
            try await waitUntil("the worker said the job did not start") { worker.stderr.contains("did not start") }
            let probe = QueueProbe(server: server, queue: "deploy")
            #expect(try probe.deadCount() == 0, "\(worker.stderr)")
            let line = try #require(worker.stderr.split(separator: "\n").first { $0.contains("did not start") })
            #expect(line.contains("cannot run \(handler)"), "\(line)")
            #expect(line.contains("No such file or directory"), "\(line)")
            #expect(worker.isRunning)

            #expect(rename(handler + ".away", handler) == 0)
            try await waitUntil("the job ran", within: .seconds(60)) { try probe.isDone(id) }
            #expect(try probe.deadCount() == 0)
            #expect(fixture.read("attempt") == "1\n", "the failed starts used up attempts: \(worker.stderr)")
        }
    }

    /// The line said only `Exec format error`. (Where binfmt_misc is mounted and lists no
    /// format, such a file is refused at start: `execProgramOfNoKnownFormat`.)
    @Test("a script without a #! line is handed back, the reason saying to add one",
          .enabled(if: BinfmtMisc.state != .mountedEmpty, "binfmt_misc is mounted empty: refused at start"))
    func aScriptWithoutAShebangSaysToAddOne() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // written with O_CLOEXEC (Foundation's write does not set it): a child another test
            // spawned meanwhile kept the write descriptor, and the exec failed with ETXTBSY
            let handler = try TempDirectory.script(fixture.directory, "no-shebang.sh", "echo ran\n")
            let worker = try fixture.worker(queue: "plain", exec: [handler])
            defer { worker.kill() }
            _ = try await fixture.enqueue("plain")
            try await waitUntil("the worker said the job did not start") { worker.stderr.contains("did not start") }
            let line = try #require(worker.stderr.split(separator: "\n").first { $0.contains("did not start") })
            #expect(line.contains("cannot run \(handler): Exec format error (not a program this machine runs: a script needs "
                + "a #! line, e.g. #!/bin/sh; a binary must be built for this CPU)"), "\(line)")
            #expect(try QueueProbe(server: server, queue: "plain").deadCount() == 0)
        }
    }

    @Test func aConcurrencyTheFileLimitCannotHoldIsRefusedAtStart() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let handler = try fixture.script("handler.sh", "exit 0")
            let spool = try SpoolProcess.binary()
            let child = try ChildProgram(
                executable: "/bin/sh",
                arguments: [
                    "-c", #"ulimit -n 64 && exec "$0" worker --redis "$1" --queue q --concurrency 10 --exec "$2""#,
                    spool, server.url, handler,
                ],
                directory: fixture.directory, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") },
                stdinPath: nil, stdoutPath: "\(fixture.directory)/out", stderrPath: "\(fixture.directory)/err"
            )
            defer { if child.exitStatus == nil { kill(child.pid, SIGKILL); _ = child.exitStatus } }
            try await waitUntil("the worker exited") { child.exitStatus != nil }
            #expect(child.exitStatus == 1)
            let stderr = fixture.read("err")
            #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
            #expect(stderr.contains("file descriptors") && stderr.contains("limit") && stderr.contains("concurrency"), "\(stderr)")
        }
    }

    /// Programs start through `spool-exec` beside the binary (no warning); a `spool` without
    /// it still runs them, through itself, and says so once at start.
    @Test func withoutSpoolExecBesideItTheWorkerStartsProgramsThroughItselfAndSaysSo() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // `kill 0` reaches the trampoline too; it must not end it, the spool binary's
            // included (its main thread, where such a signal lands, blocks it as well)
            let handler = try fixture.script("handler.sh", """
                echo "$SPOOL_ATTEMPT" >> "$1/ran"
                trap '' TERM
                kill 0
                """)
            let probe = QueueProbe(server: server, queue: "q")

            let worker = try fixture.worker(queue: "q", exec: [handler, fixture.directory])
            defer { worker.kill() }
            let spool = try SpoolProcess.binary()
            #expect(FileManager.default.isExecutableFile(atPath: URL(fileURLWithPath: spool)
                .deletingLastPathComponent().appendingPathComponent("spool-exec").path), "spool-exec was not built beside \(spool)")
            let first = try await fixture.enqueue("q")
            try await waitUntil("the job ran") { try probe.isDone(first) }
            #expect(!worker.stderr.contains("spool-exec"), "\(worker.stderr)")
            worker.kill()

            // the same binary alone in a directory (a hard link: /proc/self/exe resolves symlinks)
            let alone = fixture.directory + "/bin"
            try FileManager.default.createDirectory(atPath: alone, withIntermediateDirectories: false)
            if link(spool, alone + "/spool") != 0 { try FileManager.default.copyItem(atPath: spool, toPath: alone + "/spool") }
            let child = try ChildProgram(
                executable: alone + "/spool",
                arguments: ["worker", "--redis", server.url, "--queue", "q", "--exec", handler, fixture.directory],
                directory: fixture.directory, environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPOOL_") },
                stdinPath: nil, stdoutPath: "\(fixture.directory)/out", stderrPath: "\(fixture.directory)/err"
            )
            defer { if child.exitStatus == nil { kill(child.pid, SIGKILL); _ = child.exitStatus } }
            let second = try await fixture.enqueue("q")
            try await waitUntil("the job ran without spool-exec") { try probe.isDone(second) }
            let warnings = fixture.read("err").split(separator: "\n").filter { $0.contains("spool-exec") }
            #expect(warnings.count == 1, "\(fixture.read("err"))")
            #expect(warnings.first?.contains("\(alone)/spool-exec is missing") == true, "\(warnings)")
            #expect(fixture.read("ran") == "1\n1\n")
        }
    }
}
