import Foundation
import SpoolTesting
import Testing

/// `spool worker --metrics-port`: the Prometheus text on /metrics, /healthz and /readyz.
@Suite(.timeLimit(.minutes(2)))
struct MetricsEndpointTests {
    /// Starts a worker with the metrics endpoint on a free port; returns it and the port it logged.
    static func startWorker(
        _ fixture: WorkerFixture, queue: String, _ flags: [String], exec: [String]
    ) async throws -> (SpoolProcess, Int) {
        let worker = try fixture.worker(queue: queue, ["--metrics-port", "0"] + flags, exec: exec)
        return (worker, try await worker.loggedMetricsPort())
    }

    /// It printed SwiftNIO's text: `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`.
    @Test("a metrics port in use stops the worker at start with one line naming the address and what to do")
    func metricsPortInUse() async throws {
        try await withRedisServer { server in
            let holder = try SilentListener()
            let fixture = try WorkerFixture(server: server)
            let worker = try fixture.worker(queue: "q", ["--metrics-port", "\(holder.port)"], exec: ["/bin/true"])
            defer {
                worker.kill()
                withExtendedLifetime((holder, fixture)) {}   // the port stays taken until the worker has tried it
            }
            let run = try await worker.wait(timeout: .seconds(60))
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderrLines.last == "spool: cannot serve metrics on 127.0.0.1:\(holder.port): the port is in use: choose another "
                + "--metrics-port (metrics_port in a config file; 0 picks a free one), or stop the process that holds it", "\(run.stderr)")
            #expect(!run.stderr.contains("errno") && !run.stderr.contains("bind("), "\(run.stderr)")
        }
    }

    /// They printed SwiftNIO's text: `bind(descriptor:ptr:bytes:): Cannot assign requested
    /// address (errno: 99)`, or `SocketAddressError.UnknownHost`'s. 192.0.2.0/24 is TEST-NET-1,
    /// documentation only, on no interface; `.invalid` never resolves (RFC 6761), though the
    /// lookup may wait for a resolver, hence 60 s.
    @Test("worker --metrics-host with an address no interface has, or a name that does not resolve, says so in one line",
          arguments: unusableMetricsHosts)

    func metricsHostUnusable(host: String, reason: String) async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let worker = try fixture.worker(queue: "q", ["--metrics-port", "0", "--metrics-host", host], exec: ["/bin/true"])
            defer { worker.kill() }
            let run = try await worker.wait(timeout: .seconds(60))
            #expect(run.status == 1, "\(run.stderr)")
            #expect(run.stderrLines.last == "spool: cannot serve metrics on \(host):0: \(reason)", "\(run.stderr)")
        }
    }

    /// The hosts `metricsHostUnusable` tries, with the reason each gives. A host with
    /// `net.ipv4.ip_nonlocal_bind=1` binds any address, so the first case is left out there.
    static var unusableMetricsHosts: [(String, String)] {
        let nonlocalBind = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_nonlocal_bind", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        let notHere = ("192.0.2.1", "no interface of this machine has that address: give one of its addresses as --metrics-host "
            + "(metrics_host in a config file), or 0.0.0.0 for all")
        let unknown = ("no-such-host.invalid", "the host name does not resolve: give --metrics-host as an address (127.0.0.1, 0.0.0.0, ::1) "
            + "or a name this machine resolves")
        return nonlocalBind ? [unknown] : [notHere, unknown]
    }

    /// It logged `spool.metrics.address=::1:<port>`.
    @Test("an IPv6 --metrics-host is logged in brackets, [::1]:<port>", .enabled(if: ipv6Loopback, "no IPv6 loopback here"))
    func metricsAddressIPv6() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let worker = try fixture.worker(queue: "q", ["--metrics-port", "0", "--metrics-host", "::1"], exec: ["/bin/true"])
            defer { worker.kill() }
            try await waitUntil("the worker logs its metrics address") {
                if !worker.isRunning { throw TestFailure("worker exited: \(worker.stderr)") }
                return worker.stderr.contains("spool.metrics.address=")
            }
            #expect(worker.stderr.contains(/spool\.metrics\.address=\[::1\]:[1-9][0-9]*\b/), "\(worker.stderr)")
        }
    }

    /// Whether a socket can bind ::1 here (containers may run without IPv6).
    static let ipv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        } == 0
    }()

    @Test func metricsCountWhatThisWorkerProcessed() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let handler = try fixture.script("handler.sh", """
                cat > /dev/null
                [ "$SPOOL_JOB_TYPE" = bad ] && exit 65
                exit 0
                """)
            let (worker, port) = try await Self.startWorker(fixture, queue: "jobs", [], exec: [handler])
            defer { worker.kill() }
            #expect(try HTTPGet.get(port: port, "/healthz").status == 200)

            for _ in 0..<5 { _ = try await fixture.enqueue("jobs", ["--type", "ok"]) }
            for _ in 0..<2 { _ = try await fixture.enqueue("jobs", ["--type", "bad"]) }
            let probe = QueueProbe(server: server, queue: "jobs")
            try await waitUntil("5 done and 2 dead letters") { try probe.doneCount() == 5 && probe.deadCount() == 2 }

            let response = try HTTPGet.get(port: port, "/metrics")
            #expect(response.status == 200)
            let samples = try PrometheusSample.parse(response.body)
            let mine = ["queue": "jobs", "group": "default"]
            // the exec handler is a fallback, so every job type is counted as `other`
            #expect(samples.value("spool_jobs_processed_total", mine.merging(["type": "other", "status": "succeeded"]) { $1 }) == 5)
            #expect(samples.value("spool_jobs_processed_total", mine.merging(["status": "dead"]) { $1 }) == 2)
            #expect(samples.value("spool_jobs_processed_total", mine.merging(["status": "retried"]) { $1 }) == 0)
            #expect(samples.value("spool_job_duration_seconds_count", mine) == 7)
            #expect(samples.value("spool_job_queued_duration_seconds_count", mine) == 7)
            #expect(samples.value("spool_job_duration_seconds_bucket", mine.merging(["le": "+Inf"]) { $1 }) == 7)
            // the jobs were enqueued by other processes (`spool enqueue`): this one counted none
            #expect(samples.value("spool_jobs_enqueued_total") == nil)
            // gauges appear with the first queue reading
            try await waitUntil("the queue gauges are recorded") {
                let samples = try PrometheusSample.parse(try HTTPGet.get(port: port, "/metrics").body)
                return samples.value("spool_queue_dead", mine) == 2 && samples.value("spool_queue_lag_seconds", mine) == 0
            }
            #expect(try HTTPGet.get(port: port, "/nothing").status == 404)

            try await server.stop()
            let unhealthy = try HTTPGet.get(port: port, "/healthz")
            #expect(unhealthy.status == 503, "\(unhealthy.body)")
            // the reason, not only that it failed: here the refused connection
            #expect(unhealthy.body.hasPrefix("redis PING failed: ") && unhealthy.body.contains("127.0.0.1:\(server.port)"), "\(unhealthy.body)")
        }
    }

    /// The handler timeout defaults to 5 minutes, but the duration buckets stopped at 10 s: a
    /// 12 s job counted only in `+Inf`, so no quantile above 10 s could be told.
    @Test func durationBucketsReachPastTheDefaultHandlerTimeout() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let (worker, port) = try await Self.startWorker(fixture, queue: "jobs", [], exec: ["/bin/true"])
            defer { worker.kill() }
            let samples = try PrometheusSample.parse(try HTTPGet.get(port: port, "/metrics").body)
            let bounds = samples.filter { $0.name == "spool_job_duration_seconds_bucket" && $0.labels["queue"] == "jobs" }
                .compactMap { $0.labels["le"].flatMap(Double.init) }
                .filter(\.isFinite)
            #expect(bounds.contains { $0 >= 12 }, "a 12 s job lands in a finite bucket: \(bounds)")
            #expect(bounds.contains { $0 >= 300 }, "and one of the default handler timeout: \(bounds)")
        }
    }

    /// Clients that connected and held their connections used up the worker's file descriptors
    /// (the audit's run: its jobs then failed to start their children and were dead-lettered).
    @Test func connectionsBeyondTheLimitAreClosed() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let (worker, port) = try await Self.startWorker(fixture, queue: "jobs", [], exec: ["/bin/true"])
            defer { worker.kill() }
            // 40 clients connect and send nothing: 32 are served (kept open), 8 closed at once
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            for _ in 0..<40 { sockets.append(try HTTPGet.connected(port: port, timeout: timeval(tv_sec: 0, tv_usec: 100_000))) }
            var closed: Set<Int32> = []
            try await waitUntil("the connections beyond the limit are closed") {
                var byte: UInt8 = 0
                for fd in sockets where !closed.contains(fd) && read(fd, &byte, 1) == 0 { closed.insert(fd) }
                return closed.count >= 8
            }
            #expect(closed.count == 8)
            // once they leave, a scrape is served again
            for fd in sockets { close(fd) }
            sockets = []
            try await waitUntil("a scrape is served") { (try? HTTPGet.get(port: port, "/healthz"))?.status == 200 }
        }
    }

    @Test func readyzFollowsTheLagOfEverySubscription() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            // each job waits for the gate file: the backlog behind the first one ages for as
            // long as the test keeps the gate shut, however slow the machine
            let gate = fixture.directory + "/gate"
            let slow = try fixture.script("slow.sh", "cat > /dev/null; while [ ! -e '\(gate)' ]; do sleep 0.05; done")
            let (worker, port) = try await Self.startWorker(
                fixture, queue: "slow", ["--concurrency", "1", "--max-lag", "1s"], exec: [slow]
            )
            defer { worker.kill() }
            try await waitUntil("ready with an empty queue") { try HTTPGet.get(port: port, "/readyz").status == 200 }

            for _ in 0..<8 { _ = try await fixture.enqueue("slow") }
            var reason = ""
            try await waitUntil("not ready while the backlog ages past 1s", within: .seconds(30)) {
                let response = try HTTPGet.get(port: port, "/readyz")
                reason = response.body
                return response.status == 503
            }
            #expect(reason.contains("queue slow group default: lag"), "\(reason)")
            #expect(reason.split(separator: "\n").count == 1)

            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            let probe = QueueProbe(server: server, queue: "slow")
            try await waitUntil("drained", within: .seconds(30)) { try probe.doneCount() == 8 }
            try await waitUntil("ready again once drained", within: .seconds(30)) {
                try HTTPGet.get(port: port, "/readyz").status == 200
            }
            #expect(try HTTPGet.get(port: port, "/healthz").status == 200)
        }
    }

    /// It kept answering 200 from the last good reading while Redis did not answer.
    @Test func readyzTurnsNotReadyWhenTheLagCannotBeRead() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            let (worker, port) = try await Self.startWorker(fixture, queue: "idle", ["--max-lag", "1s"], exec: ["/bin/true"])
            defer { worker.kill() }
            try await waitUntil("ready with an empty queue") { try HTTPGet.get(port: port, "/readyz").status == 200 }
            server.pause()
            var reason = ""
            do {
                defer { server.resume() }
                try await waitUntil("not ready while Redis is frozen", within: .seconds(30)) {
                    let response = try HTTPGet.get(port: port, "/readyz")
                    reason = response.body
                    return response.status == 503
                }
            }
            #expect(reason.contains("queue idle group default: lag 0.0s was read") && reason.contains("may now exceed --max-lag 1.0s"), "\(reason)")
            try await waitUntil("ready again once Redis answers", within: .seconds(30)) {
                try HTTPGet.get(port: port, "/readyz").status == 200
            }
        }
    }
}
