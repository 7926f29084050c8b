import Foundation
import SpoolTesting

extension Scenario {
    /// Negative control: Redis without persistence, SIGKILLed mid-run and restarted empty.
    static let controlVolatileRedis = Scenario(
        name: "nc-volatile-redis",
        summary: "NEGATIVE CONTROL: Redis with persistence off SIGKILLed and restarted empty; the checker must report loss",
        isNegativeControl: true,
        redis: RedisServer.Options(appendOnly: false, extraArguments: ["--maxmemory-policy", "noeviction"]),
        workerSettings: ["concurrency": "1"],
        drainLimit: .seconds(20)
    ) { run, parameters in
        // 3 workers x 1 slot x 50-100 ms drain far slower than the producer: a backlog builds
        try await concurrently(run, parameters, mix: JobMix(sleepMilliseconds: 50...100)) { _ in
            try await Task.sleep(for: .milliseconds(2_000))
            try await run.fault("redis-kill") {
                await run.server.kill()
                try await run.server.restart()
            }
        }
        return Outcome()
    }

    /// Negative control: a broken worker that acknowledges a batch before running it, then
    /// SIGKILLs itself mid-batch.
    static let controlAckFirst = Scenario(
        name: "nc-ack-first",
        summary: "NEGATIVE CONTROL: a worker that XACKs before running the handler and dies mid-batch; the checker must report loss",
        isNegativeControl: true,
        workers: 1,
        workerMode: "ack-first",
        workerSettings: ["crash-after": "25"],
        drainLimit: .seconds(20)
    ) { run, parameters in
        try await concurrently(run, parameters) { _ in }
        return Outcome()
    }

    /// Negative control: a hard stream cap far below the backlog trims jobs nobody ran.
    static let controlStreamCap = Scenario(
        name: "nc-stream-cap",
        summary: "NEGATIVE CONTROL: maxStreamLength 50 with a growing backlog trims pending jobs; the checker must report loss",
        isNegativeControl: true,
        workers: 2,
        workerSettings: ["cap": "50", "trim-ms": "100", "concurrency": "1"],
        drainLimit: .seconds(20)
    ) { run, parameters in
        try await concurrently(run, parameters, mix: JobMix(sleepMilliseconds: 40...80)) { _ in }
        return Outcome()
    }

    /// Every scenario, in the order the table lists them.
    public static let all: [Scenario] = [
        workerKill, workerStop, workerTerm,
        redisRestart(kill: false, fsync: "always"), redisRestart(kill: true, fsync: "always"),
        redisRestart(kill: false, fsync: "everysec"), redisRestart(kill: true, fsync: "everysec"),
        redisPause, redisOOM, partition(seconds: 5), partition(seconds: 30), slowLink, poison, longJob, lag,
        controlVolatileRedis, controlAckFirst, controlStreamCap,
    ]

    /// The scenario called `name`.
    public static func named(_ name: String) -> Scenario? {
        all.first { $0.name == name }
    }
}
