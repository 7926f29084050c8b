import Foundation
import SpoolTesting
import Testing

/// `spool enqueue` and the one-line errors every command shares.
@Suite(.timeLimit(.minutes(2)))
struct EnqueueCommandTests {
    /// A job id: a UUIDv7 in its 36-character text form.
    static let idPattern = #"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"#

    /// The values of the field `name` in `redis-cli XRANGE` output split into lines (each entry
    /// id, then its names and values, a line each), entry by entry.
    static func values(of name: String, in lines: [String]) -> [String] {
        lines.indices.dropLast().filter { lines[$0] == name }.map { lines[$0 + 1] }
    }

    @Test func enqueuePrintsTheJobIDAndAddsOneEntry() async throws {
        try await withRedisServer { server in
            let result = try await SpoolProcess.run(["enqueue", "orders", "--redis", server.url, "--data", #"{"id": 42}"#])
            #expect(result.status == 0, "\(result.stderr)")
            let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.range(of: Self.idPattern, options: .regularExpression) != nil, "\(id)")
            #expect(result.stderr.isEmpty)
            #expect(try server.cli("XLEN", "spool:{orders}:stream") == "1")
            let fields = try server.cli("XRANGE", "spool:{orders}:stream", "-", "+")
            #expect(fields.contains(#"{"id": 42}"#))
            #expect(fields.contains(id))
        }
    }

    @Test func dedupKeyPrintsDuplicateForTheSecondEnqueue() async throws {
        try await withRedisServer { server in
            let first = try await SpoolProcess.run(["enqueue", "mail", "--redis", server.url, "--key", "user-7", "--data", "{}"])
            let second = try await SpoolProcess.run(["enqueue", "mail", "--redis", server.url, "--key", "user-7", "--data", "{}"])
            #expect(first.status == 0 && second.status == 0, "\(first.stderr) \(second.stderr)")
            let id = first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(second.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(id) (duplicate)")
        }
    }

    /// `--data -5` said "Missing value for '--data <data>'": -5 is JSON, and a key or type may
    /// start with "-" as well.
    @Test("values that start with '-' are values: --data -5, --type -t, --key -k")
    func valuesStartingWithADash() async throws {
        try await withRedisServer { server in
            let result = try await SpoolProcess.run(["enqueue", "neg", "--redis", server.url, "--data", "-5", "--type", "-t", "--key", "-k"])
            #expect(result.status == 0, "\(result.stderr)")
            let fields = try server.cli("XRANGE", "spool:{neg}:stream", "-", "+").split(whereSeparator: \.isNewline).map(String.init)
            #expect(fields.firstIndex(of: "payload").map { fields[$0 + 1] } == "-5", "\(fields)")
            #expect(fields.firstIndex(of: "type").map { fields[$0 + 1] } == "-t", "\(fields)")
            #expect(fields.firstIndex(of: "key").map { fields[$0 + 1] } == "-k", "\(fields)")
        }
    }

    @Test func typeDelayMaxAttemptsAndStdinAreUsed() async throws {
        try await withRedisServer { server in
            let result = try await SpoolProcess.run(
                ["enqueue", "q1", "--redis", server.url, "--type", "send_email", "--max-attempts", "7"],
                stdin: Array("raw bytes, not JSON".utf8)
            )
            #expect(result.status == 0, "\(result.stderr)")
            let fields = try server.cli("XRANGE", "spool:{q1}:stream", "-", "+")
            #expect(fields.contains("send_email"))
            #expect(fields.contains("raw bytes, not JSON"))
            let delayed = try await SpoolProcess.run(["enqueue", "q1", "--redis", server.url, "--delay", "1h", "--data", "1"])
            #expect(delayed.status == 0, "\(delayed.stderr)")
            #expect(try server.cli("ZCARD", "spool:{q1}:delayed") == "1")
        }
    }

    @Test func linesEnqueuesOneJobPerLine() async throws {
        try await withRedisServer { server in
            let input = (1...50).map { #"{"n": \#($0)}"# }.joined(separator: "\n") + "\n"
            let result = try await SpoolProcess.run(["enqueue", "bulk", "--redis", server.url, "--lines"], stdin: Array(input.utf8))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.split(separator: "\n").count == 50)
            #expect(try server.cli("XLEN", "spool:{bulk}:stream") == "50")
        }
    }

    /// It enqueued nothing and said nothing.
    @Test("--lines with no non-blank line enqueues nothing, says so on stderr and exits 0")
    func linesWithoutAnyLine() async throws {
        try await withRedisServer { server in
            for input in ["", "\n  \n\r\n"] {
                let result = try await SpoolProcess.run(["enqueue", "bulk", "--redis", server.url, "--lines"], stdin: Array(input.utf8))
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.isEmpty)
                #expect(result.stderrLines == ["spool: nothing enqueued: the input has no non-blank line (with --lines, each is one job)"],
                        "\(result.stderr)")
            }
            #expect(try server.cli("EXISTS", "spool:{bulk}:stream") == "0")
        }
    }

    /// The message said only that a payload was too large, not which of the lines.
    @Test func linesNamesTheOversizeLineByItsNumberInTheInput() async throws {
        try await withRedisServer { server in
            let input = "{\"n\": 1}\n\n  \n{\"n\": 2}\r\n\"\(String(repeating: "x", count: 2000))\"\n{\"n\": 3}\n"
            let result = try await SpoolProcess.run(
                ["enqueue", "bulk", "--redis", server.url, "--lines", "--max-payload-bytes", "1000"], stdin: Array(input.utf8)
            )
            #expect(result.status == 1)
            #expect(result.stderrLines == ["spool: line 5: payload of 2002 bytes exceeds the limit of 1000 bytes: keep jobs small "
                + "(ids and minimal context) or raise the limit (maxPayloadBytes in the library, --max-payload-bytes for spool worker "
                + "and spool enqueue) (nothing was enqueued)"], "\(result.stderr)")
            #expect(try server.cli("EXISTS", "spool:{bulk}:stream") == "0")
        }
    }

    @Test("--lines stores the trace context given with every line's job")
    func linesCarryTheTraceContext() async throws {
        try await withRedisServer { server in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let result = try await SpoolProcess.run(
                ["enqueue", "traced", "--redis", server.url, "--lines", "--traceparent", traceparent, "--tracestate", "rojo=1"],
                stdin: Array("{}\n{}\n".utf8)
            )
            #expect(result.status == 0, "\(result.stderr)")
            let lines = try server.cli("XRANGE", "spool:{traced}:stream", "-", "+").split(separator: "\n").map(String.init)
            #expect(Self.values(of: "traceparent", in: lines) == [traceparent, traceparent], "\(lines)")
            #expect(Self.values(of: "tracestate", in: lines) == ["rojo=1", "rojo=1"], "\(lines)")
        }
    }

    @Test func linesPrintsTheIDsOfEveryStoredLineWhenABatchFailsPartWay() async throws {
        try await withRedisServer { server in
            // Redis refuses writes once it holds 2 MB more than now: the first batch (1000
            // small lines) fits, the second (1000 lines of 5 KB) only in part
            let used = try #require(Int(try server.cli("INFO", "memory").split(separator: "\r\n")
                .first { $0.hasPrefix("used_memory:") }?.dropFirst("used_memory:".count) ?? ""))
            _ = try server.cli("CONFIG", "SET", "maxmemory", "\(used + 2_000_000)")
            let small = (1...1000).map { #"{"n": \#($0)}"# }
            let large = (1...1000).map { #"{"pad": "\#(String(repeating: "x", count: 5000))", "n": \#($0)}"# }
            let input = (small + large).joined(separator: "\n") + "\n"
            let result = try await SpoolProcess.run(
                ["enqueue", "bulk", "--redis", server.url, "--lines", "--max-payload-bytes", "10000"], stdin: Array(input.utf8)
            )
            #expect(result.status == 1)
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            let length = try #require(Int(try server.cli("XLEN", "spool:{bulk}:stream")))
            #expect(length > 1000 && length < 2000, "part of the second batch is stored")
            // every stored line's id is printed, in order, and the error names the lines that were not
            func were(_ count: Int) -> String { "\(count) \(count == 1 ? "was" : "were")" }
            #expect(result.stderr.contains("lines 1-1000 were enqueued, their ids printed; of lines 1001-2000, \(were(length - 1000)) enqueued (ids printed) and \(were(2000 - length)) not: lines "), "\(result.stderr)")
            #expect(result.stderr.contains("OOM"), "\(result.stderr)")
            let printed = result.stdout.split(separator: "\n").map(String.init)
            #expect(printed.count == length)
            let stored = try server.cli("XRANGE", "spool:{bulk}:stream", "-", "+", "COUNT", "2000")
            let lines = stored.split(separator: "\n").map(String.init)   // entry id, then names and values
            let storedIDs = Self.values(of: "id", in: lines)
            #expect(storedIDs == printed)
            // the lines named are exactly those of the second batch not stored: usually its tail,
            // but memory freed as Redis writes replies mid-batch can let a few later lines in
            let storedLarge = Set(Self.values(of: "payload", in: lines).filter { $0.hasPrefix(#"{"pad""#) }
                .compactMap { payload in payload.split(separator: " ").last.flatMap { Int($0.dropLast()) } }
                .map { 1000 + $0 })
            let notStored = Set(1001...2000).subtracting(storedLarge)
            #expect(storedLarge.count == length - 1000)
            let named = result.stderr.components(separatedBy: " not: lines ").last?.components(separatedBy: ", the first because").first ?? ""
            // (past 10 ranges the message names the first 10 and says how many more)
            let listed = named.components(separatedBy: " and ").first ?? named
            let namedLines = Set(listed.components(separatedBy: ", ").flatMap { range -> [Int] in
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                return bounds.count == 2 ? Array(bounds[0]...bounds[1]) : bounds
            })
            if named.hasSuffix(" more") {
                #expect(namedLines.isSubset(of: notStored) && namedLines.min() == notStored.min(), "named \(named)")
            } else {
                #expect(namedLines == notStored, "named \(named)")
            }
        }
    }

    /// A failed registration said "(nothing was pushed)" and then "of lines 1-3 some may be
    /// enqueued".
    @Test("--lines: when registering the queue fails, the error says nothing was pushed, and only that")
    func linesRegistrationFailureSaysNothingWasPushed() async throws {
        try await withRedisServer { server in
            _ = try server.cli("SET", "spool:queues", "not a set")   // SADD fails with WRONGTYPE
            let result = try await SpoolProcess.run(["enqueue", "bulk", "--redis", server.url, "--lines"], stdin: Array("1\n2\n3\n".utf8))
            #expect(result.status == 1, "\(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("(nothing was pushed)") && result.stderr.contains("WRONGTYPE"), "\(result.stderr)")
            #expect(result.stderr.hasSuffix("(the push that failed was of lines 1-3)\n"), "\(result.stderr)")
            #expect(!result.stderr.contains("may be enqueued"), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(try server.cli("EXISTS", "spool:{bulk}:stream") == "0")
        }
    }

    @Test(arguments: [
        // bad data: exit 1
        (["enqueue", "q", "--data", "{not json"], "not valid JSON", 1),
        (["enqueue", "bad queue!", "--data", "{}"], "queue name", 1),
        (["enqueue", "", "--data", "{}"], "queue name", 1),
        // a flag's value out of its range: a usage error, exit 64
        (["enqueue", "q", "--data", "{}", "--max-attempts", "0"], "max-attempts", 64),
        // an empty dedup key was taken as a key
        (["enqueue", "q", "--data", "{}", "--key", ""], "--key must not be empty: give a dedup key (e.g. --key order-42), or leave --key out", 64),
        (["enqueue", "q", "--data", "{}", "--traceparent", "zz-NOT-A-TRACE"], "--traceparent is not W3C trace context", 64),
        (["enqueue", "q", "--data", "{}", "--traceparent", "00-00000000000000000000000000000000-0000000000000000-00"], "--traceparent", 64),
        (["enqueue", "q", "--data", "{}", "--lines", "--traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"],
         "--traceparent", 64),
        (["enqueue", "q", "--data", "{}", "--tracestate", "rojo=1"], "--tracestate needs --traceparent", 64),
        (["enqueue", "q", "--data", "{}", "--traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          "--tracestate", "Rojo=1"], "--tracestate is not W3C trace context", 64),
    ])
    func badInputIsOneLineAndExitsNonZero(arguments: [String], expected: String, status: Int32) async throws {
        try await withRedisServer { server in
            let result = try await SpoolProcess.run(arguments + ["--redis", server.url])
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("spool: "))
            #expect(result.stderr.contains(expected), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
            #expect(try server.cli("EXISTS", "spool:{q}:stream") == "0")
        }
    }

    @Test func oversizePayloadIsOneLineAndExitsOne() async throws {
        try await withRedisServer { server in
            let directory = try TempDirectory.make()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let big = "\"" + String(repeating: "x", count: 600 * 1024) + "\""
            try big.write(toFile: "\(directory)/big.json", atomically: false, encoding: .utf8)
            // (--data cannot carry it: Linux limits one argument to 128 KiB)
            for arguments in [["--file", "big.json"]] {
                let result = try await SpoolProcess.run(["enqueue", "q", "--redis", server.url] + arguments, in: directory)
                #expect(result.status == 1)
                #expect(result.stderrLines.count == 1, "\(result.stderr.prefix(300))")
                #expect(result.stderr.contains("limit"), "\(result.stderr.prefix(300))")
            }
            let piped = try await SpoolProcess.run(["enqueue", "q", "--redis", server.url], stdin: Array(big.utf8))
            #expect(piped.status == 1)
            #expect(piped.stderrLines.count == 1)
            #expect(try server.cli("EXISTS", "spool:{q}:stream") == "0")
        }
    }

    @Test("--max-payload-bytes: enqueue takes more than the default when raised; a worker with a lower limit dead-letters, one with the default runs it")
    func payloadLimits() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let data = "\"" + String(repeating: "x", count: 1000) + "\""
            let refused = try await SpoolProcess.run(
                ["enqueue", "q", "--redis", server.url, "--data", data, "--max-payload-bytes", "500"], in: fixture.directory
            )
            #expect(refused.status == 1 && refused.stderrLines.count == 1 && refused.stderr.contains("--max-payload-bytes"), "\(refused.stderr)")
            let id = try await fixture.enqueue("q", ["--max-payload-bytes", "2000"], data: data)
            let probe = QueueProbe(server: server, queue: "q")

            let strict = try fixture.worker(queue: "q", ["--max-payload-bytes", "512"], exec: ["/bin/true"])
            defer { strict.kill() }
            try await waitUntil("the job is dead-lettered by the worker with the lower limit") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["id"] == id && letter["dead_error"]?.contains("exceeds the limit of 512 bytes") == true, "\(letter)")
            #expect(letter["dead_error"]?.contains("--max-payload-bytes for spool worker") == true, "\(letter)")
            strict.signal(SIGTERM)
            _ = try await strict.wait(timeout: .seconds(60))

            // replayed, it runs on a worker with the default limit
            let replay = try await SpoolProcess.run(["dlq", "replay", "q", "--all", "--yes", "--redis", server.url], in: fixture.directory)
            #expect(replay.status == 0, "\(replay.stderr)")
            let lenient = try fixture.worker(queue: "q", exec: ["/bin/true"])
            defer { lenient.kill() }
            try await waitUntil("the job is done") { try probe.isDone(id) }

            let bad = try await SpoolProcess.run(["worker", "--redis", server.url, "--queue", "q", "--max-payload-bytes", "0", "--exec", "/bin/true"])
            #expect(bad.status != 0 && bad.stderrLines.count == 1 && bad.stderr.contains("max payload bytes must be 1..."), "\(bad.stderr)")
        }
    }

    @Test(arguments: ["redis://", "http://localhost:6379", "redis://host:notaport", "unix://"])
    func malformedURLIsOneLineAndExitsOne(url: String) async throws {
        let result = try await SpoolProcess.run(["enqueue", "q", "--redis", url, "--data", "{}"])
        #expect(result.status == 1)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("spool: "))
    }

    @Test func unreachableServerIsOneLineAndExitsOneQuickly() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await SpoolProcess.run(
            ["enqueue", "q", "--redis", "redis://127.0.0.1:1", "--timeout", "2s", "--data", "{}"], timeout: .seconds(60)
        )
        #expect(result.status == 1)
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1:1"))
        // gives up instead of retrying on (a bound against a hang, with room for a loaded machine)
        #expect(clock.now - start < .seconds(45))
    }

    @Test func wrongPasswordNeverAppearsInTheOutput() async throws {
        try await withRedisServer(.init(password: "right-password-1")) { server in
            let secret = "wrong-secret-987"
            let url = "redis://:\(secret)@\(server.host):\(server.port)"
            for result in [
                try await SpoolProcess.run(["enqueue", "q", "--redis", url, "--data", "{}"]),
                try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], environment: [
                    "SPOOL_REDIS_URL": server.url, "SPOOL_REDIS_PASSWORD": secret,
                ]),
                try await SpoolProcess.run(["worker", "--queue", "q", "--redis", url, "--exec", "/bin/true"]),
            ] {
                #expect(result.status == 1)
                #expect(result.stderrLines.count == 1, "\(result.stderr)")
                #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
                #expect(!result.stderr.contains("right-password-1"))
            }
        }
    }

    @Test func usageErrorsAreOneLineAndExit64() async throws {
        for arguments in [["enqueue"], ["enqueue", "q", "--no-such-flag"], ["worker", "--concurrency", "many"]] {
            let result = try await SpoolProcess.run(arguments)
            #expect(result.status == 64, "\(arguments) \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("spool: "))
        }
    }
}
