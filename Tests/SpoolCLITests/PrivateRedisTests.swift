import Foundation
import SpoolTesting
import Testing

/// The private redis-server under `./.spool`: never a second one on the same data.
@Suite(.timeLimit(.minutes(2)))
struct PrivateRedisTests {
    @Test("a private redis-server that is alive but silent (SIGSTOP) is never replaced: one line after --timeout, and `redis stop` still stops it")
    func aStoppedServerIsNeverReplaced() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let pid = try await PrivateServers.start(in: directory)
            #expect(PrivateServers.running(in: directory) == [pid])

            #expect(kill(pid, SIGSTOP) == 0)
            let silent = try await SpoolProcess.run(["queues", "--timeout", "1s"], in: directory)
            #expect(silent.status == 1 && silent.stderrLines.count == 1, "\(silent.stderr)")
            #expect(silent.stderr == "spool: the private redis-server (pid \(pid)) runs but does not answer within 1s; "
                + "see \(directory)/.spool/redis.log, or stop it with `spool redis stop`\n")
            #expect(try PrivateServers.pidFile(in: directory) == pid)
            #expect(PrivateServers.running(in: directory) == [pid])

            // woken, the same server serves again
            #expect(kill(pid, SIGCONT) == 0)
            let resumed = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try PrivateServers.pidFile(in: directory) == pid)
            #expect(PrivateServers.running(in: directory) == [pid])

            // `redis stop`, as the error advises, stops even a stopped server
            #expect(kill(pid, SIGSTOP) == 0)
            let stop = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(stop.stdout.contains("stopped the private Redis (pid \(pid))"), "\(stop.stdout)")
            #expect(processEnded(pid))
        }
    }

    /// Without a URL, `health` started a private Redis and reported it healthy: a probe whose
    /// SPOOL_REDIS_URL went missing said healthy forever. `ping` answered PONG the same way.
    @Test("health and ping never start the private Redis: with none running they exit 64 saying so; with one running they check it")
    func checksNeverStartThePrivateRedis() async throws {
        try await PrivateServers.inTempDirectory { directory in
            for command in ["health", "ping"] {
                let run = try await SpoolProcess.run([command], in: directory)
                #expect(run.status == 64, "\(run.stderr)")
                #expect(run.stderrLines == ["spool: no Redis to check: give --redis or $SPOOL_REDIS_URL (spool \(command) never starts "
                    + "the private Redis, and none runs under ./.spool/: `spool redis start` starts it)"], "\(run.stderr)")
                #expect(run.stdout.isEmpty, "\(run.stdout)")
            }
            #expect(PrivateServers.running(in: directory).isEmpty)

            let pid = try await PrivateServers.start(in: directory)
            let health = try await SpoolProcess.run(["health"], in: directory)
            #expect(health.status == 0 && health.stdout.hasPrefix("healthy"), "\(health.stdout) \(health.stderr)")
            let ping = try await SpoolProcess.run(["ping"], in: directory)
            #expect(ping.status == 0 && ping.stdout.hasPrefix("PONG from unix://"), "\(ping.stdout) \(ping.stderr)")
            #expect(PrivateServers.running(in: directory) == [pid])
        }
    }

    @Test("a private redis-server that answers with an error (maxclients reached) counts as running: the command fails on it, no second server")
    func aServerThatRefusesClientsIsNeverReplaced() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let pid = try await PrivateServers.start(in: directory)
            let socket = "\(directory)/.spool/redis.sock"
            let probe = RedisProbe(endpoint: .unix(path: socket), timeout: .seconds(5))

            // one client holds the only connection the server then allows (`env` finds redis-cli on PATH)
            let holder = try ChildProgram(
                executable: "redis-cli", arguments: ["-s", socket, "SUBSCRIBE", "hold"],
                directory: directory, environment: [:], stdinPath: nil,
                stdoutPath: "\(directory)/holder.out", stderrPath: "\(directory)/holder.err"
            )
            defer {
                kill(holder.pid, SIGKILL)
                _ = holder.exitStatus
            }
            try await waitUntil("redis-cli holds a connection", within: .seconds(30)) {
                let info = try? await probe.command("INFO", "clients").string
                return info?.contains("connected_clients:2") == true
            }
            #expect(try await probe.command("CONFIG", "SET", "maxclients", "1") == .simple("OK"))

            let refused = try await SpoolProcess.run(["queues"], in: directory)
            // it is used (and announced), and the command fails on it: Redis writes "max number of
            // clients reached" and closes, so the client reads that error or a closed connection
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderrLines == [
                "spool: using private Redis at unix://\(socket) (stop it with `spool redis stop`)",
                refused.stderrLines.last ?? "",
            ], "\(refused.stderr)")
            #expect(refused.stderrLines.last?.hasPrefix("spool: list queues failed: Redis at unix://\(socket): ") == true, "\(refused.stderr)")
            #expect(try PrivateServers.pidFile(in: directory) == pid)
            #expect(PrivateServers.running(in: directory) == [pid])
        }
    }

    @Test("a private redis-server whose redis.pid was deleted is found in /proc: reused, never doubled, and stopped by redis stop")
    func aServerWithoutItsPIDFileIsFound() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let pid = try await PrivateServers.start(in: directory)
            #expect(unlink("\(directory)/.spool/redis.pid") == 0)

            let enqueue = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory)
            #expect(enqueue.status == 0, "\(enqueue.stderr)")
            #expect(PrivateServers.running(in: directory) == [pid])
            let stop = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stop.status == 0 && stop.stdout.contains("stopped the private Redis (pid \(pid))"), "\(stop.stdout)\(stop.stderr)")
            #expect(processEnded(pid))
        }
    }

    @Test("a stale redis.pid naming another live process (the pid reused) is replaced by a start and removed by redis stop; that process is left alone")
    func aStalePIDFileNamingAnotherProcess() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let sleeper = try ChildProgram(
                executable: "/bin/sleep", arguments: ["60"], directory: directory, environment: [:], stdinPath: nil,
                stdoutPath: "\(directory)/sleep.out", stderrPath: "\(directory)/sleep.err"
            )
            defer {
                kill(sleeper.pid, SIGKILL)
                for _ in 0..<3000 where sleeper.exitStatus == nil { usleep(10_000) }
            }
            let spool = "\(directory)/.spool"
            #expect(mkdir(spool, 0o700) == 0)
            func writeStalePIDFile() throws {
                try "\(sleeper.pid)\n".write(toFile: "\(spool)/redis.pid", atomically: false, encoding: .utf8)
            }

            try writeStalePIDFile()
            let enqueue = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory)
            #expect(enqueue.status == 0, "\(enqueue.stderr)")
            let pid = try PrivateServers.pidFile(in: directory)
            #expect(pid != sleeper.pid && PrivateServers.running(in: directory) == [pid])
            #expect(sleeper.exitStatus == nil)
            let stop = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stop.status == 0 && stop.stdout.contains("stopped the private Redis (pid \(pid))"), "\(stop.stdout)\(stop.stderr)")

            try writeStalePIDFile()
            let stale = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stale.status == 0, "\(stale.stderr)")
            #expect(stale.stdout == "no private Redis is running in \(spool) (stale pid file removed)\n")
            #expect(!FileManager.default.fileExists(atPath: "\(spool)/redis.pid"))
            #expect(sleeper.exitStatus == nil)

            try writeStalePIDFile()
            let start = try await SpoolProcess.run(["redis", "start"], in: directory)
            #expect(start.status == 0 && start.stdout == "unix://\(spool)/redis.sock\n", "\(start.stderr)")
            #expect(try PrivateServers.pidFile(in: directory) != sleeper.pid)
            #expect(PrivateServers.running(in: directory).count == 1)
            #expect(sleeper.exitStatus == nil)
        }
    }

    @Test("the private redis-server inherits none of its caller's descriptors but 0-2: `spool redis start 7>&1 | cat` ends")
    func theServerHoldsNoPipeOfItsCaller() async throws {
        try await PrivateServers.inTempDirectory { directory in
            // a shell's `7>&1 | cat`: spool gets the write end of cat's pipe as descriptor 7
            let pipe = try StderrPipe()
            pipe.startReading()
            let start = try SpoolProcess.start(["redis", "start"], in: directory, descriptors: [7: pipe.writeEnd])
            let result = try await start.wait(timeout: .seconds(30))
            pipe.closeWriteEnd()
            #expect(result.status == 0, "\(result.stderr)")
            let pid = try PrivateServers.pidFile(in: directory)

            var info = stat()
            #expect(fstat(pipe.readEnd, &info) == 0)
            let name = "pipe:[\(info.st_ino)]"
            let held = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).filter {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == name
            }
            #expect(held.isEmpty, "redis-server \(pid) holds the caller's pipe as descriptor \(held)")
            // what `| cat` sees: the end of its input, once `spool` has exited
            try await waitUntil("the pipe's reader reads its end", within: .seconds(30)) { pipe.isAtEnd }
        }
    }
}
