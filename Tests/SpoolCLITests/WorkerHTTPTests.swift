import Foundation
import SpoolTesting
import Testing

/// `spool worker --http`: statuses, Retry-After, headers, the private-network deny-list.
@Suite(.timeLimit(.minutes(2)))
struct WorkerHTTPTests {
    /// Runs `body` with a Redis server, an HTTP server and a worker POSTing to `path`.
    func withHTTPWorker(
        path: String, host: String = "127.0.0.1", flags: [String] = ["--allow-private-network"],
        _ body: (WorkerFixture, TestHTTPServer, QueueProbe) async throws -> Void
    ) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let http = try await TestHTTPServer.start(in: fixture.directory)
            defer { http.stop() }
            let worker = try SpoolProcess.start(
                ["worker", "--redis", server.url, "--queue", "hooks", "--http", "http://\(host):\(http.port)\(path)",
                 "--max-attempts", "2", "--backoff-base", "50ms", "--backoff-max", "100ms", "--log-level", "debug"] + flags,
                in: fixture.directory
            )
            defer { worker.kill() }
            try await body(fixture, http, QueueProbe(server: server, queue: "hooks"))
        }
    }

    @Test func success200PostsThePayloadWithSpoolHeaders() async throws {
        try await withHTTPWorker(path: "/ok") { fixture, http, probe in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let id = try await fixture.enqueue(
                "hooks", ["--type", "order.placed", "--traceparent", traceparent, "--tracestate", "rojo=00f067aa0ba902b7"],
                data: #"{"order": 7}"#
            )
            try await waitUntil("the job is done") { try probe.isDone(id) }
            let request = try #require(http.requests(to: "/ok").first)
            #expect(request["body"] as? String == #"{"order": 7}"#)
            let headers = request["headers"] as? [String: String] ?? [:]
            #expect(headers["spool-job-id"] == id)
            #expect(headers["spool-queue"] == "hooks")
            #expect(headers["spool-group"] == "default")
            #expect(headers["spool-job-type"] == "order.placed")
            #expect(headers["spool-attempt"] == "1")
            #expect(headers["spool-enqueued-at"]?.count == 13)
            #expect(headers["traceparent"] == traceparent)
            #expect(headers["tracestate"] == "rojo=00f067aa0ba902b7")
            #expect(headers["content-type"] == "application/json")
        }
    }

    @Test func status500IsRetriedThenDeadLettered() async throws {
        try await withHTTPWorker(path: "/fail") { fixture, http, probe in
            let id = try await fixture.enqueue("hooks")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["id"] == id)
            #expect(letter["dead_reason"] == "retries_exhausted")
            #expect(letter["dead_attempts"] == "2")
            #expect(letter["dead_error"]?.contains("answered 500: status 500 for /fail") == true, "\(letter)")
            #expect(http.requests(to: "/fail").count == 2)
        }
    }

    @Test func status404IsDeadLetteredAtOnce() async throws {
        try await withHTTPWorker(path: "/missing") { fixture, http, probe in
            _ = try await fixture.enqueue("hooks")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["dead_reason"] == "non_retryable")
            #expect(letter["dead_attempts"] == "1")
            #expect(http.requests(to: "/missing").count == 1)
        }
    }

    /// A type with CR LF made AsyncHTTPClient refuse the request on every attempt, as a
    /// retryable failure: the job used all its attempts before it was dead-lettered. (Another
    /// producer wrote it: `spool enqueue --type` refuses control characters.)
    @Test func aTypeNoHeaderCanCarryIsDeadLetteredAtOnce() async throws {
        try await withHTTPWorker(path: "/ok") { fixture, http, probe in
            let id = "0190ff3c-5e4a-7b21-9c3d-4e5f607182c1"
            _ = try fixture.server.cli("XADD", "spool:{hooks}:stream", "*", "v", "1", "id", id, "type", "order\r\nX-Injected: 1", "payload", "{}")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["id"] == id)
            #expect(letter["dead_reason"] == "non_retryable", "\(letter)")
            #expect(letter["dead_attempts"] == "1")
            #expect(letter["dead_error"]?.contains("control characters an HTTP header cannot carry") == true, "\(letter)")
            #expect(http.requests(to: "/ok").isEmpty)
        }
    }

    /// A body over 64 KiB lost its tail: the error said only "answered 404".
    @Test func theDeadLetterKeepsTheEndOfALongBody() async throws {
        try await withHTTPWorker(path: "/missing-big") { fixture, http, probe in
            _ = try await fixture.enqueue("hooks")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            let error = letter["dead_error"] ?? ""
            #expect(error.contains("answered 404: xxxx") && error.hasSuffix("xxxx THE END of a long body"), "\(error.suffix(80))")
        }
    }

    /// A numeric address in a denied range (some the deny-list once missed), or a localhost name, is known at start:
    /// the worker refuses to start, naming the range, where it started and dead-lettered every
    /// job. (A name is checked before each request: `loopbackIsRefusedUnlessAllowed`.)
    @Test(arguments: [
        ("198.18.0.1", "reserved (benchmarking)"), ("192.0.0.8", "reserved (IETF protocol assignments)"),
        ("[::7f00:1]", "reserved (IPv4-compatible IPv6)"), ("[2002:7f00:1::1]", "loopback, in 6to4"),
        ("127.0.0.1", "loopback"), ("[::1]", "loopback"), ("10.1.2.3", "private"), ("127.1", "loopback"),
        ("2130706433", "loopback"), ("[::ffff:192.168.0.1]", "private"),
        // RFC 6761: always loopback, whatever a resolver says (they were dead-lettered job by job)
        ("localhost", "loopback"), ("LocalHost.", "loopback"), ("api.localhost", "loopback"),
    ])
    func deniedAddressesKnownWithoutALookupStopTheWorkerAtStart(host: String, range: String) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let result = try await SpoolProcess.run(
                ["worker", "--redis", server.url, "--queue", "hooks", "--http", "http://\(host):9/x"], in: fixture.directory
            )
            #expect(result.status == 1)
            #expect(result.stderrLines.count == 1 && result.stderr.contains("is in a range the worker refuses (\(range))")
                && result.stderr.contains("--allow-private-network"), "\(result.stderr)")
            #expect(try server.cli("EXISTS", "spool:{hooks}:stream") == "0", "the worker subscribed")
        }
    }

    @Test func retryAfterIsWaitedOutBeforeTheRetry() async throws {
        try await withHTTPWorker(path: "/retry-after") { fixture, http, probe in
            let id = try await fixture.enqueue("hooks")
            try await waitUntil("the job is done") { try probe.isDone(id) }
            let requests = http.requests(to: "/retry-after")
            #expect(requests.count == 2)
            let times = requests.compactMap { $0["time"] as? Double }
            #expect(times.count == 2 && times[1] - times[0] >= 1.0, "\(times)")
        }
    }

    @Test func redirectsToAnotherHostAreNotFollowed() async throws {
        try await withHTTPWorker(path: "/redirect-away") { fixture, _, probe in
            _ = try await fixture.enqueue("hooks")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["dead_reason"] == "non_retryable")
            #expect(letter["dead_error"]?.contains("not followed") == true, "\(letter)")
        }
    }

    /// Another host name is looked up before each request (its addresses may change): one that
    /// resolves to loopback fails the job permanently, and nothing is sent. The name is one
    /// /etc/hosts maps to loopback (a machine's own name often is).
    @Test(.enabled(if: loopbackName != nil, "/etc/hosts maps no name but localhost to loopback"))
    func loopbackIsRefusedUnlessAllowed() async throws {
        let name = try #require(Self.loopbackName)
        try await withHTTPWorker(path: "/ok", host: name, flags: []) { fixture, http, probe in
            _ = try await fixture.enqueue("hooks")
            try await waitUntil("the job is dead-lettered") { try probe.deadCount() == 1 }
            let letter = try #require(try probe.deadLetters().first)
            #expect(letter["dead_reason"] == "non_retryable")
            #expect(letter["dead_error"]?.contains("\(name) resolves to") == true, "\(letter)")
            #expect(letter["dead_error"]?.contains("(loopback)") == true, "\(letter)")
            #expect(http.requests().isEmpty)
        }
    }

    /// A name other than `localhost` (and names under it) that /etc/hosts maps to 127.x.y.z or
    /// ::1 (Docker's lists `ip6-localhost` there).
    static let loopbackName: String? = {
        guard let hosts = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return nil }
        for line in hosts.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0].hasPrefix("127.") || fields[0] == "::1" else { continue }
            for name in fields.dropFirst() {
                if name.hasPrefix("#") { break }
                let lowered = name.lowercased()
                if lowered != "localhost" && !lowered.hasSuffix(".localhost") && lowered.contains(where: \.isLetter) { return String(name) }
            }
        }
        return nil
    }()
}
