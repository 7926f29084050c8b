import Foundation
import SpoolTesting
import Testing

@Suite("spool queues, inspect, job, dlq, health (the built binary)")
struct InspectCommandTests {
    @Test("queues: a table row per group, and --json with the documented fields")
    func queues() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let table = try await spool("queues", "--redis", server.url)
            #expect(table.status == 0, "\(table.stderr)")
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("QUEUE") == true)
            #expect(lines.count == 3, "header + two groups: \(table.stdout)")
            #expect(lines.allSatisfy { $0.count <= 100 })
            #expect(table.stdout.contains("emails") && table.stdout.contains("3 (") && table.stdout.contains("2 ("))

            let run = try await spool("queues", "--json", "--redis", server.url)
            #expect(run.status == 0)
            let queues = try #require(try run.json()["queues"] as? [[String: Any]])
            let emails = try #require(queues.first)
            #expect(emails["queue"] as? String == "emails" && emails["length"] as? Int == 3)
            for key in ["delayed", "dropped_by_cap", "groups"] { #expect(emails[key] != nil, "\(key)") }
            let groups = try #require(emails["groups"] as? [[String: Any]])
            #expect(groups.map { $0["group"] as? String } == ["audit", "default"])
            let group = groups[1]
            for key in ["pending", "lag", "lag_seconds", "scheduled_retries", "due_retries", "dead_letters", "completed", "last_delivered_id", "consumers"] {
                #expect(group[key] != nil, "\(key)")
            }
            #expect(group["pending"] as? Int == 1 && group["lag"] as? Int == 2 && group["dead_letters"] as? Int == 1)
            let consumer = try #require((group["consumers"] as? [[String: Any]])?.first)
            #expect(consumer["name"] as? String == "c1" && consumer["alive"] as? Bool == false && consumer["idle_ms"] is Int)
        }
    }

    @Test("inspect: groups, workers and the newest entries; --count and --json")
    func inspect() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let text = try await spool("inspect", "emails", "--redis", server.url)
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.contains("group default: pending 1, lag 2"))
            #expect(text.stdout.contains("c1") && text.stdout.contains(Seed.jobs[2]))

            let run = try await spool("inspect", "emails", "--count", "1", "--json", "--redis", server.url)
            let document = try run.json()
            #expect(document["queue"] as? String == "emails" && document["groups"] is [Any])
            let entries = try #require(document["entries"] as? [[String: Any]])
            #expect(entries.count == 1)
            #expect(entries.first?["job_id"] as? String == Seed.jobs[2], "newest first")
            for key in ["entry_id", "type", "enqueued_at", "attempt", "payload_bytes"] { #expect(entries.first?[key] != nil, "\(key)") }
        }
    }

    @Test("job: where a job is in each group; --json; a missing job exits 1")
    func job() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let text = try await spool("job", "emails", Seed.jobs[0], "--redis", server.url)
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.contains("group default: pending on c1"))
            #expect(text.stdout.contains("group audit: waiting"))

            let document = try await spool("job", "emails", Seed.deadJob, "--json", "--redis", server.url).json()
            #expect(document["found"] as? Bool == true && document["job_id"] as? String == Seed.deadJob)
            for key in ["queue", "entry_id", "delayed_until", "source", "envelope"] { #expect(document[key] != nil, "\(key)") }
            let groups = try #require(document["groups"] as? [[String: Any]])
            #expect(groups.map { $0["state"] as? String } == ["not_found", "dead_lettered"])
            let letter = try #require(groups[1]["dead_letter"] as? [String: Any])
            #expect(letter["reason"] as? String == "retries_exhausted" && letter["error"] as? String == "SMTP 550 mailbox unavailable")

            let missing = try await spool("job", "emails", "0190ff3c-0000-7000-8000-000000000000", "--redis", server.url)
            #expect(missing.status == 1 && missing.stderrLines.count == 1 && missing.stderr.hasPrefix("spool: job "))
            // in JSON, what does not apply is null: a job found nowhere has no envelope
            let missingJSON = try await spool("job", "emails", "0190ff3c-0000-7000-8000-000000000000", "--json", "--redis", server.url)
            let nothing = try #require(try JSONSerialization.jsonObject(with: Data(missingJSON.stdout.utf8)) as? [String: Any], "\(missingJSON.stdout)")
            #expect(nothing["found"] as? Bool == false && nothing["envelope"] is NSNull, "\(nothing)")
        }
    }

    @Test("dlq list and show: table and --json with the documented fields")
    func dlqListShow() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let list = try await spool("dlq", "list", "emails", "--redis", server.url)
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.contains(Seed.deadJob) && list.stdout.contains("retries_exhausted"))

            let document = try await spool("dlq", "list", "emails", "--group", "default", "--type", "send_email", "--since", "1h", "--json", "--redis", server.url).json()
            #expect(document["count"] as? Int == 1 && document["group"] as? String == "default")
            let letter = try #require((document["dead_letters"] as? [[String: Any]])?.first)
            for key in ["entry_id", "job_id", "type", "payload", "attempts", "reason", "error", "first_error", "failed_at", "first_failed_at", "worker", "original_entry_id", "fields"] {
                #expect(letter[key] != nil, "\(key)")
            }
            let none = try await spool("dlq", "list", "emails", "--type", "sms", "--json", "--redis", server.url).json()
            #expect(none["count"] as? Int == 0)

            let show = try await spool("dlq", "show", "emails", Seed.deadJob, "--redis", server.url)
            #expect(show.status == 0 && show.stdout.contains("SMTP 421 try later"))
            let shown = try await spool("dlq", "show", "emails", "--id", Seed.deadJob, "--json", "--redis", server.url).json()
            #expect((shown["dead_letters"] as? [Any])?.count == 1)

            let unknownGroup = try await spool("dlq", "list", "emails", "--group", "nope", "--redis", server.url)
            #expect(unknownGroup.status == 1 && unknownGroup.stderrLines.count == 1 && unknownGroup.stderr.hasPrefix("spool: unknown group \"nope\""))
        }
    }

    @Test("dlq replay: refuses without --yes and a TTY; --dry-run changes nothing; --yes moves to the group's retry stream")
    func dlqReplay() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let refused = try await spool("dlq", "replay", "emails", "--all", "--redis", server.url)
            #expect(refused.status == 1)
            #expect(refused.stderrLines.count == 1 && refused.stderr.hasPrefix("spool: refusing to replay 1 dead letter without confirmation"))
            #expect(try server.cli("XLEN", "spool:{emails}:dead:default") == "1")

            let unfiltered = try await spool("dlq", "replay", "emails", "--yes", "--redis", server.url)
            #expect(unfiltered.status != 0, "replay without a filter needs --all")

            let dry = try await spool("dlq", "replay", "emails", "--id", Seed.deadJob, "--dry-run", "--redis", server.url)
            #expect(dry.status == 0 && dry.stdout.contains(Seed.deadJob) && dry.stdout.contains("dry run"))
            #expect(try server.cli("XLEN", "spool:{emails}:dead:default") == "1")

            let replayed = try await spool("dlq", "replay", "emails", "--id", Seed.deadJob, "--yes", "--redis", server.url)
            #expect(replayed.status == 0, "\(replayed.stderr)")
            #expect(replayed.stdout.contains("replayed 1 dead letter"))
            #expect(try server.cli("XLEN", "spool:{emails}:dead:default") == "0")
            #expect(try server.cli("XLEN", "spool:{emails}:retry:default") == "1")
            #expect(try server.cli("EXISTS", "spool:{emails}:retry:audit") == "0", "only the failed group")
            // the job's own fields, attempt left out (reset to 1, its default), no dead_ fields
            let moved = try server.cli("XRANGE", "spool:{emails}:retry:default", "-", "+").split(separator: "\n").dropFirst().map(String.init)
            #expect(moved.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
                == ["v", "id", "type", "payload", "enqueued_at"], "\(moved)")

            // re-running is safe: nothing left to do
            let again = try await spool("dlq", "replay", "emails", "--id", Seed.deadJob, "--yes", "--redis", server.url)
            #expect(again.status == 0 && again.stdout.contains("no dead letters match"))
        }
    }

    /// Counts of one read "1 dead letters", "newest 1 entries", "1 deliveries".
    @Test("a count of one takes the singular: dlq replay, inspect, job")
    func singularCounts() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let dry = try await spool("dlq", "replay", "emails", "--all", "--dry-run", "--redis", server.url)
            #expect(dry.status == 0 && dry.stdout.hasPrefix("replay 1 dead letter of queue emails group default: "), "\(dry.stdout)")
            let inspect = try await spool("inspect", "emails", "--count", "1", "--redis", server.url)
            #expect(inspect.status == 0, "\(inspect.stderr)")
            #expect(inspect.stdout.contains("queue emails: 3 entries, ") && inspect.stdout.contains("newest 1 entry:"), "\(inspect.stdout)")
            let job = try await spool("job", "emails", Seed.jobs[0], "--redis", server.url)
            #expect(job.status == 0 && job.stdout.contains(", 1 delivery (stream entry "), "\(job.stdout)\(job.stderr)")
            let show = try await spool("dlq", "show", "emails", Seed.deadJob, "--redis", server.url)
            #expect(show.stdout.contains("retries_exhausted after 3 attempts"), "\(show.stdout)")
        }
    }

    /// A handler's multi-line error (a stack trace) went on at the left margin, under the labels.
    @Test("dlq show: a multi-line error's further lines are indented under its first; controls are still escaped")
    func dlqShowIndentsMultiLineErrors() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let id = "0190ff3c-5e4a-7b21-9c3d-4e5f607182fe"
            _ = try server.cli(
                "XADD", "spool:{emails}:dead:default", "*", "v", "1", "id", id, "type", "send_email", "payload", "{}",
                "enqueued_at", "1", "attempt", "1", "dead_reason", "non_retryable",
                "dead_error", "Fatal error: boom\n\tat frame 1\n\nfrom \u{1b}[2J\r\nend\n", "dead_attempts", "1"
            )
            let show = try await spool("dlq", "show", "emails", id, "--redis", server.url)
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.stdout.contains("""
                  error:       Fatal error: boom
                               \tat frame 1

                               from \\u001b[2J\\u000d
                               end
                  failed at:
                """), "\(show.stdout)")
            // a blank line stays blank, not a line of spaces
            #expect(!show.stdout.split(separator: "\n").contains { $0.last == " " }, "\(show.stdout)")
        }
    }

    @Test("dlq purge: deletes only what matches")
    func dlqPurge() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("XADD", "spool:{emails}:dead:default", "*", "id", "other", "type", "sms", "dead_reason", "non_retryable", "dead_error", "no")
            let purged = try await spool("dlq", "purge", "emails", "--type", "sms", "--yes", "--redis", server.url)
            #expect(purged.status == 0, "\(purged.stderr)")
            #expect(purged.stdout.contains("purged 1 dead letter"))
            #expect(try server.cli("XLEN", "spool:{emails}:dead:default") == "1")
            let left = try await spool("dlq", "list", "emails", "--json", "--redis", server.url).json()
            #expect((left["dead_letters"] as? [[String: Any]])?.first?["job_id"] as? String == Seed.deadJob)
        }
    }

    @Test("health: exit 0 when healthy, 1 with one line per violated threshold, eviction policy checked")
    func health() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            let healthy = try await spool("health", "--max-dead", "5", "--max-lag", "1h", "--redis", server.url)
            #expect(healthy.status == 0, "\(healthy.stdout)\(healthy.stderr)")
            #expect(healthy.stdout.hasPrefix("healthy"))

            let unhealthy = try await spool("health", "--max-dead", "0", "--queue", "emails", "--redis", server.url)
            #expect(unhealthy.status == 1)
            #expect(unhealthy.stdout == "unhealthy: queue emails group default dead letters 1 > 0\n")

            let lagging = try await spool("health", "--max-lag", "0s", "--redis", server.url)
            #expect(lagging.status == 1)
            #expect(lagging.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix("unhealthy: queue emails group ") && $0.contains(" lag ") && $0.hasSuffix(" > 0s") }, "\(lagging.stdout)")

            _ = try server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
            let evicting = try await spool("health", "--json", "--redis", server.url)
            #expect(evicting.status == 1)
            let document = try evicting.json()
            #expect(document["healthy"] as? Bool == false && document["eviction_policy"] as? String == "allkeys-lru")
            let violation = try #require((document["violations"] as? [[String: Any]])?.first)
            #expect(violation["check"] as? String == "eviction_policy")
            for key in ["queue", "group", "value", "limit", "message"] { #expect(violation[key] != nil, "\(key)") }
            for key in ["warnings", "queues_checked", "groups_checked"] { #expect(document[key] != nil, "\(key)") }
        }
    }

    @Test("health: an ACL that refuses CONFIG GET gives a warning, not a failure, and no password is printed")
    func healthWithoutConfigPermission() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            _ = try server.cli("ACL", "SETUSER", "probe", "on", ">s3cret-pw", "~*", "+@all", "-config")
            let url = "redis://probe:s3cret-pw@127.0.0.1:\(server.port)"
            let run = try await spool("health", "--redis", url)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stderr.hasPrefix("warning: cannot check maxmemory-policy"))
            #expect(!(run.stdout + run.stderr).contains("s3cret-pw"))
        }
    }

    @Test("unknown queue and unreachable server: one line on stderr, non-zero exit")
    func errors() async throws {
        try await withRedisServer { server in
            try Seed.emails(server)
            for command in [["inspect", "nope"], ["job", "nope", Seed.jobs[0]], ["dlq", "list", "nope"], ["health", "--queue", "nope"]] {
                let run = try await spool(arguments: command + ["--redis", server.url])
                #expect(run.status == 1, "\(command)")
                #expect(run.stderrLines.count == 1 && run.stderr.hasPrefix("spool: unknown queue \"nope\": "), "\(command): \(run.stderr)")
                #expect(run.stdout.isEmpty)
            }
        }
        let unreachable = try await spool(arguments: ["queues", "--redis", "redis://user:hunter2@127.0.0.1:1", "--timeout", "2s"])
        #expect(unreachable.status != 0)
        #expect(unreachable.stderrLines.count == 1 && unreachable.stderr.hasPrefix("spool: "), "\(unreachable.stderr)")
        #expect(!unreachable.stderr.contains("hunter2"))
    }
}
