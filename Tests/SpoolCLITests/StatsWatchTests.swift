import Foundation
import SpoolTesting
import Testing

/// `spool stats --json` and `spool queues --watch`.
@Suite(.timeLimit(.minutes(2)))
struct StatsCommandTests {
    @Test func statsJSONHasTheDocumentedFields() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            for _ in 0..<3 { _ = try await fixture.enqueue("reports") }
            _ = try server.cli("XGROUP", "CREATE", "spool:{reports}:stream", "billing", "0")
            let result = try await SpoolProcess.run(
                ["stats", "--json", "--interval", "200ms", "--redis", server.url], in: fixture.directory
            )
            #expect(result.status == 0, "\(result.stderr)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(document["measured_at"] as? Int ?? 0 > 1_700_000_000_000)
            let interval = try #require(document["interval_seconds"] as? Double)
            #expect(interval >= 0.2 && interval < 10, "\(interval)")
            let queues = try #require(document["queues"] as? [[String: Any]])
            let queue = try #require(queues.first { $0["queue"] as? String == "reports" })
            #expect(queue["length"] as? Int == 3)
            #expect(queue["delayed"] as? Int == 0)
            #expect(queue["entries_added"] as? Int == 3)
            #expect(queue["enqueued_per_second"] as? Double == 0)
            let groups = try #require(queue["groups"] as? [[String: Any]])
            let group = try #require(groups.first)
            #expect(group["group"] as? String == "billing")
            #expect(group["lag"] as? Int == 3)
            #expect(group["pending"] as? Int == 0)
            #expect(group["dead_letters"] as? Int == 0)
            #expect(group["completed"] as? Int == 0)
            #expect(group["scheduled_retries"] as? Int == 0)
            #expect(group["processed_per_second"] as? Double == 0)
            #expect(group["failed_per_second"] as? Double == 0)
            #expect((group["lag_seconds"] as? Double).map { $0 >= 0 } == true)
        }
    }

    @Test func statsMeasuresTheEnqueueRate() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            _ = try await fixture.enqueue("busy")
            let stats = try SpoolProcess.start(
                // 10 s: the test must add the entries within the interval, and the full parallel
                // suite can stall a test for seconds
                ["stats", "--json", "--interval", "10s", "--redis", server.url], in: fixture.directory
            )
            // the first sample has read the entries-added counter once the server answered an
            // XINFO STREAM (the sample's last command)
            try await waitUntil("spool stats took its first sample") {
                try server.cli("INFO", "commandstats").contains("cmdstat_xinfo|stream:calls=")
            }
            // four raw entries at once: the rate reads the stream's entries-added counter
            _ = try server.cli("EVAL", "for i = 1, 4 do redis.call('XADD', KEYS[1], '*', 'f', 'v') end", "1", "spool:{busy}:stream")
            let result = try await stats.wait(timeout: .seconds(30))
            #expect(result.status == 0, "\(result.stderr)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let queue = try #require((document["queues"] as? [[String: Any]])?.first)
            #expect(queue["entries_added"] as? Int == 5)
            let rate = try #require(queue["enqueued_per_second"] as? Double)
            let interval = try #require(document["interval_seconds"] as? Double)
            // 4 entries over the measured interval (10 s or a little more); both figures are
            // rounded to 3 decimals
            #expect(interval >= 10, "\(interval)")
            #expect(abs(rate * interval - 4) < 0.02, "rate \(rate) over \(interval) s")
        }
    }

    /// Was read from the sizes of the done set and the dead-letter stream: a worker that has run
    /// for a dedup window drops as many old ids as it adds, and a replay shrinks the dead
    /// letters, so both rates read 0 on a busy queue.
    @Test("stats counts jobs completed and dead-lettered in the interval, while old ids expire and letters are replayed")
    func statsCountsWhatHappenedNotTheSizes() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            _ = try await fixture.enqueue("steady")
            _ = try server.cli("XGROUP", "CREATE", "spool:{steady}:stream", "billing", "0")
            let (done, dead) = ("spool:{steady}:done:billing", "spool:{steady}:dead:billing")
            let hourAgo = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
            for index in 0..<5 { _ = try server.cli("ZADD", done, "\(hourAgo + Int64(index))", "old-\(index)") }
            let old = try (0..<3).map { _ in
                try server.cli("XADD", dead, "*", "reason", "failed").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let stats = try SpoolProcess.start(
                ["stats", "--json", "--interval", "10s", "--redis", server.url], in: fixture.directory
            )
            // the first sample ends with the dead-letter stream's XINFO STREAM (the queue's comes first)
            try await waitUntil("spool stats took its first sample", within: .seconds(30)) {
                let line = try server.cli("INFO", "commandstats").split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_xinfo|stream:") }
                return line.flatMap { $0.split(separator: "=").dropFirst().first?.split(separator: ",").first }.flatMap { Int($0) } ?? 0 >= 2
            }
            // what a worker past its dedup window does: 4 completions, while the 4 oldest ids expire
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for index in 0..<4 {
                _ = try server.cli("ZADD", done, "\(now + Int64(index))", "new-\(index)")
                _ = try server.cli("ZREM", done, "old-\(index)")
            }
            // 2 new dead letters, while the 3 old ones are replayed (deleted from the stream)
            for _ in 0..<2 { _ = try server.cli("XADD", dead, "*", "reason", "failed") }
            for id in old { _ = try server.cli("XDEL", dead, id) }
            #expect(try server.cli("XLEN", dead).trimmingCharacters(in: .whitespacesAndNewlines) == "2")
            let result = try await stats.wait(timeout: .seconds(30))
            #expect(result.status == 0, "\(result.stderr)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let queue = try #require((document["queues"] as? [[String: Any]])?.first { $0["queue"] as? String == "steady" })
            let group = try #require((queue["groups"] as? [[String: Any]])?.first)
            let interval = try #require(document["interval_seconds"] as? Double)
            #expect(group["completed"] as? Int == 5, "the done set's size did not change")
            let processed = try #require(group["processed_per_second"] as? Double)
            let failed = try #require(group["failed_per_second"] as? Double)
            // rates are rounded to 3 decimals
            #expect(abs(processed * interval - 4) < 0.02, "processed \(processed)/s over \(interval) s")
            #expect(abs(failed * interval - 2) < 0.02, "failed \(failed)/s over \(interval) s")
        }
    }
}

@Suite(.timeLimit(.minutes(2)))
struct WatchCommandTests {
    @Test func watchPrintsFramesAndExitsZeroOnSIGINT() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            _ = try await fixture.enqueue("watched")
            // a group made by hand whose name holds an escape sequence: shown escaped (TerminalText)
            _ = try server.cli("XGROUP", "CREATE", "spool:{watched}:stream", "g\u{1B}[2J", "0")
            let watch = try SpoolProcess.start(
                ["queues", "--watch", "--interval", "200ms", "--redis", server.url], in: fixture.directory
            )
            defer { watch.kill() }
            try await waitUntil("two frames printed") {
                watch.stdout.components(separatedBy: "spool queues — every 200ms").count - 1 >= 2
            }
            watch.signal(SIGINT)
            let result = try await watch.wait(timeout: .seconds(60))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("watched"))
            #expect(result.stdout.contains("ENQ/S"))
            #expect(!result.stdout.contains("\u{1B}["), "no ANSI escapes without a terminal")
            #expect(result.stdout.contains("g\\u001b[2J"), "\(result.stdout)")
        }
    }

    /// It exited (status 1) at the first reading that failed.
    @Test("a reading that fails once the watch has drawn a frame is shown in the next frame, and the watch goes on")
    func watchOutlivesAFailedReading() async throws {
        try await withRedisServer { server in
            let fixture = try WorkerFixture(server: server)
            _ = try await fixture.enqueue("watched")
            let watch = try SpoolProcess.start(
                ["queues", "--watch", "--interval", "200ms", "--timeout", "1s", "--redis", server.url], in: fixture.directory
            )
            defer { watch.kill() }
            try await waitUntil("a frame printed") { watch.stdout.contains("watched") }
            // Redis holds every command for 6 s (CLIENT UNPAUSE would wait too): a reading that
            // starts in the first 5 s times out, even if this machine holds the watch up a while
            _ = try server.cli("CLIENT", "PAUSE", "6000", "ALL")
            let failure = "Redis at \(server.url): timed out: no reply within the command timeout (trying again every 200ms)"
            try await waitUntil("the failed reading is shown") {
                if !watch.isRunning { throw TestFailure("the watch ended: \(watch.stderr)") }
                return watch.stdout.contains(failure)
            }
            try await waitUntil("a frame with the queues follows it") {
                if !watch.isRunning { throw TestFailure("the watch ended: \(watch.stderr)") }
                guard let shown = watch.stdout.range(of: failure, options: .backwards) else { return false }
                return watch.stdout[shown.upperBound...].contains("watched")
            }
            watch.signal(SIGINT)
            let result = try await watch.wait(timeout: .seconds(60))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.isEmpty, "\(result.stderr)")
        }
    }
}
