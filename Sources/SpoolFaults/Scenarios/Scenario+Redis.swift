import Spool
import Foundation
import SpoolRedis
import SpoolTesting

extension Scenario {
    /// Restarts Redis mid-run: `SHUTDOWN` (SIGTERM) or SIGKILL, with `appendfsync` `fsync`.
    /// With `everysec` and SIGKILL, Redis may lose the last second of acknowledged writes;
    /// that scenario allows loss only among jobs acked in the second before the kill.
    static func redisRestart(kill: Bool, fsync: String) -> Scenario {
        var scenario = Scenario(
            name: "redis-\(kill ? "kill" : "shutdown")-\(fsync)",
            summary: "Redis \(kill ? "SIGKILLed" : "shut down") and restarted mid-run, appendfsync \(fsync); the group is never recreated at $"
        ) { run, parameters in
            try await concurrently(run, parameters) { _ in
                try await Task.sleep(for: .milliseconds(2_000))
                try await run.fault("redis-restart") {
                    if kill { await run.server.kill() } else { try await run.server.stop() }
                    try await run.server.restart()
                }
            }
            var outcome = Outcome()
            outcome.checks["first-ack<=10s"] = (Checker.recovery(run.history()) ?? .max) <= 10_000
            let groups = try await run.client.send(RedisCommand("XINFO", "GROUPS", run.keys.stream))
            outcome.notes.append("groups after restart: \(groups.array?.count ?? 0)")
            return outcome
        }
        scenario.redis.appendFsync = fsync
        if kill && fsync != "always" { scenario.lossWindow = .milliseconds(1_500) }
        return scenario
    }

    /// SIGSTOP Redis for 5 s: every call returns or fails within its timeout (2 s), then work resumes.
    static let redisPause = Scenario(
        name: "redis-pause",
        summary: "Redis SIGSTOPped 5 s: every enqueue returns or fails within 2x its timeout (2 s) + 1 s, work resumes within 10 s"
    ) { run, parameters in
        try await concurrently(run, parameters) { _ in
            try await Task.sleep(for: .milliseconds(2_000))
            try await run.fault("redis-pause") {
                run.server.pause()
                try await Task.sleep(for: .seconds(5))
                run.server.resume()
            }
        }
        var outcome = Outcome()
        let history = run.history()
        let slowest = history.enqueues.values.map(\.latency).max() ?? 0
        // Measured: a call sent while Redis is frozen can take two timeouts (the command's,
        // then the reconnect handshake's); see docs/reliability.md.
        outcome.notes.append("slowest enqueue \(slowest) ms (command timeout 2000 ms)")
        outcome.checks["calls-within-2x-timeout"] = slowest <= 5_000
        outcome.checks["first-ack<=10s"] = (Checker.recovery(history) ?? .max) <= 10_000
        return outcome
    }

    /// Redis over `maxmemory` with `noeviction`: enqueues fail fast with OOM, nothing acked is
    /// dropped, and work resumes once the ballast key is deleted.
    static let redisOOM = Scenario(
        name: "redis-oom",
        summary: "Redis over maxmemory (noeviction): enqueues fail with OOM within 1 s, nothing acked is dropped, work resumes when memory frees"
    ) { run, parameters in
        try await concurrently(run, parameters) { _ in
            try await Task.sleep(for: .milliseconds(1_500))
            try await run.fault("redis-oom") {
                let info = try await run.client.send("INFO", "memory").string ?? ""
                let used = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("used_memory:") }
                    .flatMap { Int($0.dropFirst("used_memory:".count)) } ?? 0
                _ = try await run.client.send("CONFIG", "SET", "maxmemory", String(used + 2_000_000))
                _ = try await run.client.send("SETRANGE", "faults:ballast", "3000000", "x")
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline, !run.history().enqueues.values.contains(where: { $0.outcome == .failed }) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await Task.sleep(for: .seconds(2))
                _ = try await run.client.send("DEL", "faults:ballast")
            }
            _ = try await run.client.send("CONFIG", "SET", "maxmemory", "0")
        }
        var outcome = Outcome()
        let failed = run.history().enqueues.values.filter { $0.outcome == .failed }
        outcome.notes.append("\(failed.count) enqueues refused with OOM, slowest \(failed.map(\.latency).max() ?? 0) ms")
        outcome.checks["oom-refused"] = !failed.isEmpty
        outcome.checks["oom-fast"] = (failed.map(\.latency).max() ?? 0) <= 1_000
        outcome.checks["first-ack<=10s"] = (Checker.recovery(run.history()) ?? .max) <= 10_000
        return outcome
    }
}
