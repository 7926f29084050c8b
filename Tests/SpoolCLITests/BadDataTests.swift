import Foundation
import SpoolTesting
import Testing

/// Data another client wrote into Spool's keys that an audit found crashing the CLI or giving
/// wrong figures: each now gives sensible output or one line on stderr with a non-zero exit.
@Suite("spool: bad data already in Redis (the built binary)")
struct BadDataTests {
    static let odd = "0190ff3c-5e4a-7b21-9c3d-4e5f607182aa"
    static let oddDead = "0190ff3c-5e4a-7b21-9c3d-4e5f607182bb"
    static let int64Min = "-9223372036854775808"
    static let int64Max = "9223372036854775807"
    static let outOfRange = "(Unix ms, not a time in years 1-9999)"

    /// Adds `cmsgpack.pack(fields)` to the ZSET `key` with `score`, as the fail script writes
    /// retry schedules and the producer delayed jobs; `prefix` (Lua string escapes) goes before it.
    static func addPacked(_ server: RedisServer, key: String, score: String, fields: [String], dropHeader: Bool = false, prefix: String = "") throws {
        let packed = dropHeader ? "string.sub(cmsgpack.pack(ARGV), 2)" : "cmsgpack.pack(ARGV)"
        let script = "return redis.call('ZADD', KEYS[1], '\(score)', \"\(prefix)\" .. \(packed))"
        _ = try server.cli(arguments: ["EVAL", script, "1", key] + fields)
    }

    @Test("inspect, job, dlq list and show: times at Int64's ends print as numbers, their ages as ?")
    func extremeTimes() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("XADD", Seed.stream, "*", "v", "1", "id", Self.odd, "type", "t", "payload", "{}", "enqueued_at", Self.int64Min)
            let inspect = try await spool("inspect", "emails", "--redis", server.url)
            #expect(inspect.status == 0, "\(inspect.stderr)")
            let row = try #require(inspect.stdout.split(separator: "\n").first { $0.contains(Self.odd) }, "\(inspect.stdout)")
            #expect(row.hasSuffix(" ?"), "AGE is ?: \(row)")

            let job = try await spool("job", "emails", Self.odd, "--redis", server.url)
            #expect(job.status == 0, "\(job.stderr)")
            #expect(job.stdout.contains("  enqueued at: \(Self.int64Min) \(Self.outOfRange)\n"), "\(job.stdout)")

            // a delayed job due at -inf
            let delayed = "0190ff3c-5e4a-7b21-9c3d-4e5f607182cc"
            try Self.addPacked(server, key: "spool:{emails}:delayed", score: "-inf", fields: ["v", "1", "id", delayed, "type", "t", "payload", "{}"])
            let due = try await spool("job", "emails", delayed, "--redis", server.url)
            #expect(due.status == 0, "\(due.stderr)")
            #expect(due.stdout.contains("  delayed until \(Self.int64Min) \(Self.outOfRange)\n"), "\(due.stdout)")
            #expect(due.stdout.contains("group audit: waiting"), "\(due.stdout)")

            // a dead letter failed at Int64.min, first at Int64.max; one at the ends of years 1-9999
            _ = try server.cli(
                "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", Self.oddDead, "type", "t", "payload", "{}",
                "dead_reason", "non_retryable", "dead_error", "boom", "dead_failed_at", Self.int64Min, "dead_first_failed_at", Self.int64Max
            )
            let edge = "0190ff3c-5e4a-7b21-9c3d-4e5f607182dd"
            _ = try server.cli(
                "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", edge, "type", "t", "payload", "{}",
                "dead_reason", "non_retryable", "dead_error", "edge", "dead_failed_at", "253402300799999", "dead_first_failed_at", "-62135596800000"
            )
            let plain = "0190ff3c-5e4a-7b21-9c3d-4e5f607182de"
            _ = try server.cli(
                "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", plain, "type", "t", "payload", "{}",
                "dead_reason", "non_retryable", "dead_error", "plain", "dead_failed_at", "1700000000123", "dead_first_failed_at", "-1"
            )
            let list = try await spool("dlq", "list", "emails", "--redis", server.url)
            #expect(list.status == 0, "\(list.stderr)")
            let letterRow = try #require(list.stdout.split(separator: "\n").first { $0.contains(Self.oddDead) }, "\(list.stdout)")
            #expect(letterRow.contains(" ? ") && letterRow.hasSuffix("boom"), "AGE is ?: \(letterRow)")

            let show = try await spool("dlq", "show", "emails", "--all", "--redis", server.url)
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("  failed at:   \(Self.int64Min) \(Self.outOfRange)\n"), "\(show.stdout)")
            #expect(show.stdout.contains("  first fail:  \(Self.int64Max) \(Self.outOfRange)\n"), "\(show.stdout)")
            #expect(show.stdout.contains("  failed at:   9999-12-31T23:59:59.999Z (in "), "\(show.stdout)")
            #expect(show.stdout.contains("  first fail:  0001-01-01T00:00:00.000Z ("), "\(show.stdout)")
            #expect(show.stdout.contains("  failed at:   2023-11-14T22:13:20.123Z ("), "\(show.stdout)")
            #expect(show.stdout.contains("  first fail:  1969-12-31T23:59:59.999Z ("), "\(show.stdout)")

            let letterJob = try await spool("job", "emails", Self.oddDead, "--redis", server.url)
            #expect(letterJob.status == 0, "\(letterJob.stderr)")
            #expect(letterJob.stdout.contains("group default: dead-lettered ? ago: non_retryable"), "\(letterJob.stdout)")
        }
    }

    @Test("job: a done-set score of inf or -inf shows as an out-of-range time, the JSON as Int64's bounds")
    func infiniteDoneScore() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("ZADD", "spool:{emails}:done:audit", "inf", Seed.jobs[1])
            _ = try server.cli("ZADD", "spool:{emails}:done:default", "-inf", Seed.jobs[1])
            let text = try await spool("job", "emails", Seed.jobs[1], "--redis", server.url)
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.contains("group audit: done at \(Self.int64Max) \(Self.outOfRange)\n"), "\(text.stdout)")
            #expect(text.stdout.contains("group default: done at \(Self.int64Min) \(Self.outOfRange)\n"), "\(text.stdout)")

            let json = try await spool("job", "emails", Seed.jobs[1], "--json", "--redis", server.url)
            #expect(json.status == 0, "\(json.stderr)")
            let groups = try #require(try json.json()["groups"] as? [[String: Any]])
            #expect(groups.map { $0["done_at"] as? Int } == [Int.max, Int.min], "\(groups)")
        }
    }

    @Test("dlq list --limit and inspect --count take Int.max: everything is shown")
    func largestLimit() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let list = try await spool("dlq", "list", "emails", "--limit", Self.int64Max, "--redis", server.url)
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.contains(Seed.deadJob) && !list.stdout.contains("more match"), "\(list.stdout)")
            let json = try await spool("dlq", "list", "emails", "--limit", Self.int64Max, "--json", "--redis", server.url)
            #expect(json.status == 0, "\(json.stderr)")
            let document = try json.json()
            #expect(document["count"] as? Int == 1 && document["truncated"] as? Bool == false, "\(document)")

            let inspect = try await spool("inspect", "emails", "--count", Self.int64Max, "--redis", server.url)
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect(inspect.stdout.contains("newest 3 entries:"), "\(inspect.stdout)")
        }
    }

    @Test("job: a schedule member whose array header claims 2^32 - 1 fields is not allocated for, and is named")
    func hugeMessagePackCount() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let delayed = "0190ff3c-5e4a-7b21-9c3d-4e5f607182ee"
            // DD FF FF FF FF (array32 of 4294967295) then `id` and the job id: the bytes end there
            try Self.addPacked(
                server, key: "spool:{emails}:delayed", score: "1", fields: ["id", delayed], dropHeader: true,
                prefix: #"\221\255\255\255\255"#
            )
            let missing = try await spool("job", "emails", delayed, "--redis", server.url)
            #expect(missing.status == 1, "\(missing.stdout)\(missing.stderr)")
            #expect(missing.stderrLines.count == 1 && missing.stderr.hasPrefix("spool: job \(delayed) not found"), "\(missing.stderr)")
            #expect(missing.stderr.contains(
                "; but spool:{emails}:delayed holds a member containing \(delayed) that is not a MessagePack field list (another client wrote it): find it with ZSCAN spool:{emails}:delayed 0 MATCH '*"
            ), "\(missing.stderr)")

            // the same in a group's retry schedule, scanned before the well-formed member: both
            // under 64 bytes, so the ZSET stays a listpack and ZSCAN returns them in score order
            let retried = "0190ff3c-5e4a-7b21-9c3d-4e5f607182ef"
            try Self.addPacked(
                server, key: "spool:{emails}:sched:audit", score: "1", fields: ["id", retried], dropHeader: true,
                prefix: #"\221\255\255\255\255"#
            )
            try Self.addPacked(server, key: "spool:{emails}:sched:audit", score: "2", fields: ["id", retried, "attempt", "2"])
            let found = try await spool("job", "emails", retried, "--redis", server.url)
            #expect(found.status == 0, "\(found.stderr)")
            #expect(found.stdout.contains("group audit: retry scheduled at 1970-01-01T00:00:00.002Z"), "\(found.stdout)")
            #expect(found.stderrLines.count == 1 && found.stderr.hasPrefix(
                "warning: spool:{emails}:sched:audit holds a member containing \(retried) that is not a MessagePack field list"
            ), "\(found.stderr)")
            let json = try await spool("job", "emails", retried, "--json", "--redis", server.url)
            #expect(json.status == 0, "\(json.stderr)")
            let unreadable = try #require(try json.json()["unreadable"] as? [String])
            #expect(unreadable.count == 1 && unreadable[0].hasPrefix("spool:{emails}:sched:audit holds a member containing"), "\(unreadable)")
        }
    }

    @Test("a hand-made group whose name breaks Spool's rule: Redis's figures only, marked; job names it")
    func invalidGroupName() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("XGROUP", "CREATE", Seed.stream, "bad group", "0")
            _ = try server.cli("XREADGROUP", "GROUP", "bad group", "c9", "COUNT", "2", "STREAMS", Seed.stream, ">")

            let json = try await spool("queues", "--json", "--redis", server.url)
            #expect(json.status == 0, "\(json.stderr)")
            let groups = try #require((try json.json()["queues"] as? [[String: Any]])?.first?["groups"] as? [[String: Any]])
            #expect(groups.map { $0["group"] as? String } == ["audit", "bad group", "default"])
            let bad = groups[1]
            #expect(bad["valid_name"] as? Bool == false && bad["pending"] as? Int == 2 && bad["lag"] as? Int == 1, "\(bad)")
            for key in ["scheduled_retries", "due_retries", "dead_letters", "completed"] {
                #expect(bad[key] is NSNull, "\(key): \(bad)")
            }
            #expect(groups[2]["valid_name"] as? Bool == true && groups[2]["dead_letters"] as? Int == 1, "\(groups[2])")

            let stats = try await spool("stats", "--json", "--interval", "100ms", "--redis", server.url)
            #expect(stats.status == 0, "\(stats.stderr)")
            let sampled = try #require((try stats.json()["queues"] as? [[String: Any]])?.first?["groups"] as? [[String: Any]])
            #expect(sampled[1]["group"] as? String == "bad group" && sampled[1]["valid_name"] as? Bool == false, "\(sampled)")
            for key in ["dead_letters", "completed", "scheduled_retries", "processed_per_second", "failed_per_second"] {
                #expect(sampled[1][key] is NSNull, "\(key): \(sampled[1])")
            }
            #expect(sampled[2]["dead_letters"] as? Int == 1 && sampled[2]["failed_per_second"] as? Double == 0, "\(sampled[2])")

            let table = try await spool("queues", "--redis", server.url)
            #expect(table.status == 0, "\(table.stderr)")
            let row = try #require(table.stdout.split(separator: "\n").first { $0.contains("bad group") }, "\(table.stdout)")
            #expect(row.split(separator: " ").suffix(3) == ["-", "-", "0"], "RETRIES, DEAD, WORKERS: \(row)")

            let inspect = try await spool("inspect", "emails", "--redis", server.url)
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect(inspect.stdout.contains(#"group "bad group": pending 2, lag 1 ("#), "\(inspect.stdout)")
            #expect(inspect.stdout.contains("not a Spool group name (made by hand): no retries, dead letters or done set"), "\(inspect.stdout)")

            let pending = try await spool("job", "emails", Seed.jobs[0], "--redis", server.url)
            #expect(pending.status == 0, "\(pending.stderr)")
            #expect(pending.stdout.contains(#"group "bad group": pending on c9"#), "\(pending.stdout)")
            #expect(pending.stdout.contains("group default: pending on c1"), "\(pending.stdout)")
            let waiting = try await spool("job", "emails", Seed.jobs[2], "--json", "--redis", server.url)
            #expect(waiting.status == 0, "\(waiting.stderr)")
            let states = try #require(try waiting.json()["groups"] as? [[String: Any]])
            #expect(states.map { $0["state"] as? String } == ["waiting", "waiting", "waiting"], "\(states)")
            #expect(states.map { $0["valid_name"] as? Bool } == [true, false, true], "\(states)")

            // the default group's dead letter is not counted for it
            let health = try await spool("health", "--max-dead", "0", "--queue", "emails", "--redis", server.url)
            #expect(health.status == 1)
            #expect(health.stdout == "unhealthy: queue emails group default dead letters 1 > 0\n", "\(health.stdout)")
        }
    }

    /// A payload, a type, a handler's error text and a consumer name can hold any bytes: the
    /// CLI printed them raw, so a stored `ESC ]0;…BEL` retitled the operator's window and
    /// `ESC [2J` cleared the screen. Now they print escaped, as the worker's log writes them.
    @Test("inspect, job, queues, dlq list and show print stored control characters escaped, never raw")
    func controlCharacters() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let now = String(Int64(Date().timeIntervalSince1970 * 1000))
            _ = try server.cli("XADD", Seed.stream, "*", "v", "1", "id", Self.odd, "type", "t\u{1B}[2J", "payload", "pay\u{1B}]0;pwned\u{07}load\rX")
            _ = try server.cli("XREADGROUP", "GROUP", "default", "c\u{1B}[31m", "COUNT", "5", "STREAMS", Seed.stream, ">")
            _ = try server.cli("XGROUP", "CREATE", Seed.stream, "g\u{1B}[2J", "0")
            _ = try server.cli(
                "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", Self.oddDead, "type", "t\u{9B}2J", "payload", "{}",
                "attempt", "3", "dead_reason", "retries_exhausted", "dead_error", "err\u{1B}[31mRED", "dead_failed_at", now
            )
            for arguments in [
                ["inspect", "emails"], ["job", "emails", Self.odd], ["dlq", "list", "emails"], ["dlq", "show", "emails", "--all"], ["queues"],
            ] {
                let run = try await spool(arguments: arguments + ["--redis", server.url])
                #expect(run.status == 0, "\(arguments): \(run.stderr)")
                let raw = run.stdout.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
                #expect(raw.isEmpty, "\(arguments) printed controls raw: \(raw.map(\.value))")
                #expect(run.stdout.contains("\\u001b") || run.stdout.contains("\\u009b"), "\(arguments): \(run.stdout)")
            }
            let show = try await spool("dlq", "show", "emails", "--all", "--redis", server.url)
            #expect(show.stdout.contains("err\\u001b[31mRED"), "\(show.stdout)")
            // an error that lists the groups (one made by hand) is escaped as well, on stderr
            let unknown = try await spool("dlq", "list", "emails", "--group", "nope", "--redis", server.url)
            #expect(unknown.status == 1 && unknown.stderr.contains("g\\u001b[2J"), "\(unknown.stderr)")
            #expect(!unknown.stderr.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(unknown.stderr)")
            // JSON escapes C0 controls itself; DEL and C1 (U+009B) are escaped too, same values
            for arguments in [["dlq", "show", "emails", "--all", "--json"], ["inspect", "emails", "--json"], ["queues", "--json"]] {
                let json = try await spool(arguments: arguments + ["--redis", server.url])
                #expect(json.status == 0, "\(arguments): \(json.stderr)")
                #expect(!json.stdout.unicodeScalars.contains { (0x7F...0x9F).contains($0.value) }, "\(arguments)")
                _ = try json.json()
            }
            let letters = try await spool("dlq", "show", "emails", "--all", "--json", "--redis", server.url)
            #expect(letters.stdout.contains(#""t\u009b2J""#), "\(letters.stdout)")
            let job = try await spool("job", "emails", Self.odd, "--redis", server.url)
            #expect(job.stdout.contains("pay\\u001b]0;pwned\\u0007load\\u000dX"), "\(job.stdout)")
        }
    }
}
