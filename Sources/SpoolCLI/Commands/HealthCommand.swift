import ArgumentParser
import Spool
import SpoolRedis

/// `spool health`: exit 0 when every checked queue is within its thresholds, 1 otherwise.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check lag and dead letters against thresholds; exit 1 when unhealthy (for probes and alerts).",
        discussion: """
            Always checks that Redis answers and that its maxmemory-policy is noeviction (queues must \
            never be evicted); when an ACL refuses CONFIG GET that is a warning, not a failure. On a \
            cluster every master is asked: a master that does not answer is a warning naming it (the \
            checked queues' own masters must answer to read their status), unless none answers.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("Unhealthy when a group's oldest unfinished job is older than this (e.g. 30s).", valueName: "duration"))
    var maxLag: DurationArgument?

    @Option(parsing: .unconditional, help: ArgumentHelp("Unhealthy when a group has more dead letters than this.", valueName: "n"))
    var maxDead: Int?

    @Option(name: .customLong("queue"), parsing: .unconditionalSingleValue, help: ArgumentHelp("Check only this queue (repeatable); default: every known queue.", valueName: "queue"))
    var queues: [String] = []

    @Flag(help: "Print one JSON document (fields in docs/cli.md).")
    var json = false

    struct Violation {
        var queue: String?
        var group: String?
        var check: String
        var value: Any
        var limit: Any
        var message: String
    }

    func validate() throws {
        if let maxDead, maxDead < 0 { throw ValidationError("--max-dead must be 0 or more") }
        for queue in queues { try OptionValue.refuseOptionName(queue, for: "--queue") }
    }

    func run() async throws {
        var warnings: [String] = []
        var violations: [Violation] = []
        var policy: String?
        let statuses = try await withInspector(connection, checking: "spool health") { inspector in
            (policy, warnings) = try await Self.evictionPolicy(inspector)
            if queues.isEmpty { return try await inspector.queues() }
            var result: [QueueStatus] = []
            for queue in queues { result.append(try await inspector.status(of: try QueueName(queue))) }
            return result
        }
        if let policy, policy != "noeviction" {
            violations.append(Violation(
                check: "eviction_policy", value: policy, limit: "noeviction",
                message: "unhealthy: redis maxmemory-policy is \(policy), not noeviction: Redis may evict queue data"
            ))
        }
        for status in statuses {
            for group in status.groups {
                if let maxLag, group.lagSeconds > maxLag.duration.inSeconds {
                    violations.append(Violation(
                        queue: status.queue, group: group.group, check: "lag", value: (group.lagSeconds * 1000).rounded() / 1000,
                        limit: maxLag.duration.inSeconds,
                        message: "unhealthy: queue \(status.queue) group \(group.group) lag \(Formatting.span(seconds: group.lagSeconds)) > \(maxLag)"
                    ))
                }
                if let maxDead, group.deadLetters > maxDead {
                    violations.append(Violation(
                        queue: status.queue, group: group.group, check: "dead_letters", value: group.deadLetters, limit: maxDead,
                        message: "unhealthy: queue \(status.queue) group \(group.group) dead letters \(group.deadLetters) > \(maxDead)"
                    ))
                }
            }
        }
        if json {
            try JSONOutput.print([
                "healthy": violations.isEmpty,
                "eviction_policy": JSONOutput.value(policy),
                "queues_checked": statuses.count,
                "groups_checked": statuses.reduce(0) { $0 + $1.groups.count },
                "warnings": warnings,
                "violations": violations.map { violation in
                    [
                        "queue": JSONOutput.value(violation.queue), "group": JSONOutput.value(violation.group),
                        "check": violation.check, "value": violation.value, "limit": violation.limit,
                        "message": violation.message,
                    ] as [String: Any]
                },
            ])
        } else {
            for warning in warnings { Terminal.error(warning) }
            for violation in violations { print(violation.message) }
            if violations.isEmpty {
                let groups = statuses.reduce(0) { $0 + $1.groups.count }
                print("healthy: \(Formatting.counted(statuses.count, "queue")), \(Formatting.counted(groups, "group")) checked")
            }
        }
        if !violations.isEmpty { throw ExitCode(1) }
    }

    /// The eviction policy to judge (the first one other than `noeviction` among the masters
    /// that answered) and the warnings: CONFIG GET refused by the ACL, or a master (of a
    /// cluster) that did not answer. A master that is down does not fail the check while
    /// another answered: the queues' status, read next, fails if it was one of theirs.
    /// - Throws: the first master's error when none answered; any other failure.
    static func evictionPolicy(_ inspector: SpoolInspector) async throws -> (String?, [String]) {
        var policies: [String] = []
        var warnings: [String] = []
        var refused = false
        var unanswered: [SpoolError] = []
        for reading in try await inspector.evictionPolicies() {
            switch reading.policy {
            case .success(let policy):
                policies.append(policy)
            case .failure(let error):
                guard let redis = error.underlying as? RedisError else { throw error }
                switch redis.code {
                case .noPermission:
                    refused = true
                case .connectionFailed, .connectionClosed, .timeout:
                    unanswered.append(error)
                    warnings.append(
                        "warning: redis master \(reading.node) did not answer (\(redis.code): \(redis.message)); its maxmemory-policy was not checked"
                    )
                default:
                    throw error
                }
            }
        }
        if policies.isEmpty && !refused, let first = unanswered.first { throw first }
        if refused {
            warnings.insert("warning: cannot check maxmemory-policy (CONFIG GET refused by the ACL); make sure it is noeviction", at: 0)
        }
        return (policies.first { $0 != "noeviction" } ?? policies.first, warnings)
    }
}
