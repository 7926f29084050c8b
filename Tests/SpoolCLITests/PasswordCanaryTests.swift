import Foundation
import SpoolTesting
import Testing

/// A password canary appears nowhere: a unique Redis password (for the default user with
/// `requirepass` and for an ACL user) is used by every `spool` command, including failing
/// ones, and by workers whose jobs succeed, retry and are dead-lettered; then every place
/// it could leak is searched for it.
@Suite(.timeLimit(.minutes(3)))
struct PasswordCanaryTests {
    /// The places searched, with what was found there.
    final class Evidence {
        var places: [(what: String, text: String)] = []
        func add(_ what: String, _ text: String) { places.append((what, text)) }
        func add(_ what: String, _ result: RunResult) {
            places.append(("\(what) stdout", result.stdout))
            places.append(("\(what) stderr", result.stderr))
        }
    }

    @Test func theRedisPasswordAppearsNowhere() async throws {
        let canary = "cnry" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await withRedisServer(.init(password: canary)) { server in
            _ = try server.cli("ACL", "SETUSER", "app", "on", ">" + canary, "~*", "&*", "+@all")
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let handler = try TempDirectory.script(directory, "handler.sh", """
                #!/bin/sh
                out="$1"; shift
                env > "$out/env-$SPOOL_JOB_ID-$SPOOL_ATTEMPT-$$"
                printf '%s\\n' "$0" "$@" > "$out/argv-$SPOOL_JOB_ID-$SPOOL_ATTEMPT-$$"
                cat /proc/$$/cmdline /proc/$PPID/cmdline > "$out/proc-$SPOOL_JOB_ID-$SPOOL_ATTEMPT-$$" 2>/dev/null
                case "$SPOOL_JOB_TYPE" in
                  fail) echo "permanent failure of $SPOOL_JOB_ID" >&2; exit 65 ;;
                  flaky) echo "temporary failure of $SPOOL_JOB_ID" >&2; exit 75 ;;
                esac
                """)
            // the two recommended ways: the password in its own variable, or a URL in the environment
            let passwordEnv = ["SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": canary]
            let urlEnv = ["SPOOL_REDIS_URL": "redis://app:\(canary)@\(server.host):\(server.port)"]
            let evidence = Evidence()
            let queue = "canary"
            let workerFlags = ["worker", "--queue", queue, "--max-attempts", "2", "--backoff-base", "10ms", "--backoff-max", "20ms", "--log-level", "debug"]
            let workers = [
                try SpoolProcess.start(workerFlags + ["--log-format", "json", "--exec", handler, directory], in: directory, environment: passwordEnv),
                try SpoolProcess.start(workerFlags + ["--log-format", "text", "--exec", handler, directory], in: directory, environment: urlEnv),
            ]
            defer { workers.forEach { $0.kill() } }

            var ids: [String] = []
            for (index, type) in ["ok", "ok", "fail", "fail", "flaky"].enumerated() {
                let result = try await SpoolProcess.run(
                    ["enqueue", queue, "--type", type, "--data", #"{"n": \#(index)}"#, "--key", "k\(index)"],
                    in: directory, environment: index.isMultiple(of: 2) ? passwordEnv : urlEnv
                )
                evidence.add("enqueue \(type)", result)
                #expect(result.status == 0, "\(result.stderr)")
                ids.append(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let probe = QueueProbe(server: server, queue: queue)
            try await waitUntil("2 jobs done and 3 dead-lettered") { try probe.doneCount() == 2 && probe.deadCount() == 3 }

            for worker in workers {
                let cmdline = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(worker.pid)/cmdline")), as: UTF8.self)
                evidence.add("/proc/\(worker.pid)/cmdline (worker)", cmdline.replacingOccurrences(of: "\0", with: " "))
            }
            // positive control: the canary is really in use (the first worker has it in its environment)
            let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(workers[0].pid)/environ"))
            #expect(String(decoding: environ, as: UTF8.self).contains(canary), "the canary must be the password in use")

            // every reading and repairing command, with both kinds of environment
            let commands: [[String]] = [
                ["ping"], ["queues"], ["queues", "--json"], ["inspect", queue], ["inspect", queue, "--json"],
                ["job", queue, ids[2]], ["job", queue, ids[2], "--json"], ["dlq", "list", queue], ["dlq", "list", queue, "--json"],
                ["dlq", "show", queue, "--all"], ["stats", "--json", "--interval", "100ms"],
                ["health"], ["health", "--json"], ["dlq", "replay", queue, "--type", "flaky", "--yes"],
            ]
            for (index, command) in commands.enumerated() {
                let result = try await SpoolProcess.run(command, in: directory, environment: index.isMultiple(of: 2) ? urlEnv : passwordEnv)
                evidence.add("spool \(command.joined(separator: " "))", result)
                if command[0] != "health" { #expect(result.status == 0, "spool \(command): \(result.stderr)") }
            }
            try await waitUntil("the replayed job is dead-lettered again") {
                let replays = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("env-\(ids[4])-") }
                return try replays.count >= 4 && probe.deadCount() == 3 && probe.pending() == 0
            }
            let purge = try await SpoolProcess.run(["dlq", "purge", queue, "--type", "flaky", "--yes"], in: directory, environment: urlEnv)
            evidence.add("spool dlq purge", purge)
            #expect(purge.status == 0, "\(purge.stderr)")

            // failing cases: wrong passwords, unreachable hosts, bad URLs, each from the
            // environment and from --redis; every one must fail without echoing the password
            let port = server.port
            let badURLs = [
                "redis://app:\(canary)x@127.0.0.1:\(port)", "redis://:\(canary)x@127.0.0.1:\(port)",
                "redis://app:\(canary)@127.0.0.1:1", "redis://app:\(canary)@nonexistent.invalid:6379",
                "redis://app:\(canary)@127.0.0.1:notaport", "redis://app:\(canary)@", "redis://app:\(canary)@[::1",
                "rediss://app:\(canary)@127.0.0.1:\(port)", "http://app:\(canary)@127.0.0.1:\(port)",
                "unix://app:\(canary)@/nonexistent/redis.sock", "redis://app:\(canary)@127.0.0.1:\(port)/notadb",
                // mistakes people make: no scheme, a '/' or '?' in the password, odd query spellings
                "app:\(canary)@127.0.0.1:\(port)", ":\(canary)@127.0.0.1:\(port)",
                "redis://app:\(canary)/x@127.0.0.1:\(port)", "redis://app:\(canary)?x@127.0.0.1:\(port)",
                "redis://127.0.0.1:\(port)/0?PASSWORD=\(canary)", "redis://127.0.0.1:\(port)?password=a&password=\(canary)&bogus=1",
                "unix:///nonexistent/redis.sock?password=\(canary)&db=x",
                // an '@' or '&' in a query password
                "redis://127.0.0.1:\(port)/0?db=x&password=\(canary)@x", "redis://127.0.0.1:\(port)?password=a&\(canary)",
                "unix:///nonexistent/redis.sock?password=\(canary)@x&db=q",
            ]
            for (number, url) in badURLs.enumerated() {
                for command in [["ping"], ["enqueue", queue, "--data", "{}"], ["queues", "--json"]] {
                    let fromEnvironment = try await SpoolProcess.run(command + ["--timeout", "1s"], in: directory, environment: ["SPOOL_REDIS_URL": url])
                    evidence.add("spool \(command[0]) with bad SPOOL_REDIS_URL #\(number)", fromEnvironment)
                    #expect(fromEnvironment.status != 0, "spool \(command[0]) should fail for a bad URL")
                    let fromFlag = try await SpoolProcess.run(command + ["--timeout", "1s", "--redis", url], in: directory)
                    evidence.add("spool \(command[0]) with bad --redis #\(number)", fromFlag)
                }
            }
            let wrongPassword = ["SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": canary + "x"]
            let rejected = try await SpoolProcess.run(["ping"], in: directory, environment: wrongPassword)
            evidence.add("spool ping with a wrong SPOOL_REDIS_PASSWORD", rejected)
            #expect(rejected.status != 0)
            let refusedWorker = try SpoolProcess.start(workerFlags + ["--exec", handler, directory], in: directory, environment: wrongPassword)
            defer { refusedWorker.kill() }
            try await waitUntil("the worker with a wrong password logged its failure") { !refusedWorker.stderr.isEmpty }
            try await Task.sleep(for: .seconds(1))   // let it log its reconnect attempts too
            refusedWorker.signal(SIGTERM)
            _ = try? await refusedWorker.wait(timeout: .seconds(60))
            evidence.add("worker with a wrong password stdout", refusedWorker.stdout)
            evidence.add("worker with a wrong password stderr", refusedWorker.stderr)

            for worker in workers { worker.signal(SIGTERM) }
            for (index, worker) in workers.enumerated() {
                evidence.add("worker \(index)", try await worker.wait(timeout: .seconds(30)))
            }

            // what the exec handler saw: environment, argv, its and its parent's command lines
            for name in try FileManager.default.contentsOfDirectory(atPath: directory)
            where name.hasPrefix("env-") || name.hasPrefix("argv-") || name.hasPrefix("proc-") {
                evidence.add("handler \(name)", (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "")
            }
            #expect(evidence.places.filter { $0.what.hasPrefix("handler env-") }.count >= 5, "the handler ran for every job")

            // every key and value in Redis (dead letters included), consumer names, client names
            let keyspace = try server.cli("EVAL", Self.dumpScript, "0")
            #expect(keyspace.contains("permanent failure of"), "the dump must include the dead letters' errors")
            evidence.add("Redis keyspace", keyspace)
            evidence.add("CLIENT LIST", try server.cli("CLIENT", "LIST"))
            evidence.add("ACL LIST", try server.cli("ACL", "LIST"))

            let leaks = evidence.places.filter { $0.text.contains(canary) }.map(\.what)
            #expect(leaks.isEmpty, "the password appears in: \(leaks)")
            #expect(evidence.places.count > 150, "searched \(evidence.places.count) places")
        }
    }

    /// With AUTH renamed away (`rename-command AUTH ""`) Redis answers the handshake's AUTH
    /// with `ERR unknown command 'AUTH', with args beginning with: 'app' 'PASSWORD'`, and that
    /// reply went into the error the CLI prints and the worker logs.
    @Test func theRedisPasswordAppearsNowhereWhenAuthIsRenamed() async throws {
        let canary = "cnry" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await withRedisServer(.init(extraArguments: ["--rename-command", "AUTH", ""])) { server in
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let environments = [
                "a password variable": ["SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": canary],
                "a URL with user and password": ["SPOOL_REDIS_URL": "redis://app:\(canary)@\(server.host):\(server.port)"],
                "a URL with a password": ["SPOOL_REDIS_URL": "redis://:\(canary)@\(server.host):\(server.port)"],
            ]
            let evidence = Evidence()
            for (what, environment) in environments {
                for command in [["ping"], ["queues", "--json"], ["enqueue", "renamed", "--data", "{}"]] {
                    let result = try await SpoolProcess.run(command + ["--timeout", "1s"], in: directory, environment: environment)
                    evidence.add("spool \(command.joined(separator: " ")) with \(what)", result)
                    #expect(result.status != 0, "spool \(command) should fail: AUTH is unknown to the server")
                    #expect(result.stderr.contains("AUTH failed"), "\(result.stderr)")
                }
                let worker = try SpoolProcess.start(
                    ["worker", "--queue", "renamed", "--log-level", "debug", "--exec", "/bin/true"], in: directory, environment: environment
                )
                defer { worker.kill() }
                try await waitUntil("the worker logged its failure") { !worker.stderr.isEmpty || !worker.stdout.isEmpty }
                try await Task.sleep(for: .milliseconds(500))   // and a reconnect attempt or two
                worker.signal(SIGTERM)
                _ = try? await worker.wait(timeout: .seconds(60))
                evidence.add("worker with \(what) stdout", worker.stdout)
                evidence.add("worker with \(what) stderr", worker.stderr)
            }
            let leaks = evidence.places.filter { $0.text.contains(canary) }.map(\.what)
            #expect(leaks.isEmpty, "the password appears in: \(leaks)")
            // the places were not empty: each run said why it failed
            #expect(evidence.places.filter { $0.text.contains("AUTH") }.count >= 9)
        }
    }

    /// `--redis redis://user@host` with `SPOOL_REDIS_PASSWORD` unset used to send no AUTH at
    /// all, so the command ran as `default` with every right.
    @Test func aUserNameWithoutAPasswordFailsInsteadOfRunningAsDefault() async throws {
        let canary = "cnry" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await withRedisServer { server in
            _ = try server.cli("ACL", "SETUSER", "spool-worker", "on", ">" + canary, "~spool:*", "+@all")
            let url = "redis://spool-worker@127.0.0.1:\(server.port)"
            let refused = try await spool(arguments: ["queues", "--redis", url, "--timeout", "2s"])
            #expect(refused.status == 1, "\(refused.stderr)")
            #expect(refused.stderrLines.count == 1, "\(refused.stderr)")
            #expect(refused.stderr.hasPrefix("spool: ") && refused.stderr.contains("Redis at redis://***@127.0.0.1:\(server.port): authentication failed: "), "\(refused.stderr)")
            #expect(!refused.stderr.contains("spool-worker"), "\(refused.stderr)")
            #expect(refused.stderr.contains("was given without a password") && refused.stderr.contains("SPOOL_REDIS_PASSWORD"), "\(refused.stderr)")
            #expect(!refused.stderr.contains(canary) && !refused.stdout.contains(canary))
            let allowed = try await spool(arguments: ["queues", "--redis", url], environment: ["SPOOL_REDIS_PASSWORD": canary])
            #expect(allowed.status == 0, "\(allowed.stderr)")
        }
    }

    /// Lua: every key, its type-specific contents, and each stream's groups and consumers,
    /// one item per line.
    static let dumpScript = """
        local out = {}
        local function add(list) for _, v in ipairs(list) do table.insert(out, tostring(v)) end end
        for _, key in ipairs(redis.call('KEYS', '*')) do
            table.insert(out, key)
            local kind = redis.call('TYPE', key)['ok']
            if kind == 'string' then table.insert(out, redis.call('GET', key))
            elseif kind == 'hash' then add(redis.call('HGETALL', key))
            elseif kind == 'list' then add(redis.call('LRANGE', key, 0, -1))
            elseif kind == 'set' then add(redis.call('SMEMBERS', key))
            elseif kind == 'zset' then add(redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'))
            elseif kind == 'stream' then
                for _, entry in ipairs(redis.call('XRANGE', key, '-', '+')) do
                    table.insert(out, entry[1])
                    add(entry[2])
                end
                for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
                    table.insert(out, group[2])
                    for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', key, group[2])) do
                        table.insert(out, consumer[2])
                    end
                end
            end
        end
        return table.concat(out, '\\n')
        """
}
