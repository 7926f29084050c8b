import ArgumentParser
import Foundation
import Histogram
import SpoolRedis

/// `spool-bench redis`: XADD throughput of the SpoolRedis client against redis-benchmark.
struct RedisBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "XADDs of 60 bytes through SpoolRedis (64 concurrent tasks; batches of 100; one task) against redis-benchmark."
    )

    @Option(help: "XADDs per measurement.")
    var requests = 200_000

    @Option(help: "Use this Redis instead of starting a private one (TCP only).")
    var redis: String?

    func run() async throws {
        let server = try await BenchServer.start(url: redis)
        let client = RedisClient(configuration: server.configuration)
        defer { client.shutdown() }
        let payload = String(repeating: "x", count: 60)
        let key = "spool-bench:xadd"
        let requests = self.requests
        print("XADD of a 60-byte field, \(requests) per measurement, Redis at \(client.redactedAddress)")

        var table = ResultTable()
        _ = try await client.send("DEL", key)
        let ceilingConcurrent = try server.redisBenchmark(
            requests: requests, clients: 64, pipeline: 1, command: ["XADD", key, "*", "payload", payload])
        _ = try await client.send("DEL", key)
        let concurrent = try await measureRate(count: requests) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<64 {
                    let share = requests / 64 + (task < requests % 64 ? 1 : 0)
                    group.addTask {
                        for _ in 0..<share {
                            _ = try await client.send(RedisCommand("XADD", key, "*", "payload", payload))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        table.add("(a) 64 concurrent tasks vs -c 64 -P 1", spool: concurrent, ceiling: ceilingConcurrent)

        _ = try await client.send("DEL", key)
        let ceilingBatch = try server.redisBenchmark(
            requests: requests, clients: 1, pipeline: 100, command: ["XADD", key, "*", "payload", payload])
        _ = try await client.send("DEL", key)
        let batch = Array(repeating: RedisCommand("XADD", key, "*", "payload", payload), count: 100)
        let batched = try await measureRate(count: requests / 100 * 100) {
            for _ in 0..<(requests / 100) {
                _ = try await client.pipeline(batch)
            }
        }
        table.add("(b) batches of 100 vs -c 1 -P 100", spool: batched, ceiling: ceilingBatch)

        // one task, one command at a time: the client's own cost per round trip
        _ = try await client.send("DEL", key)
        let single = requests / 10
        let ceilingSingle = try server.redisBenchmarkResult(
            requests: single, clients: 1, pipeline: 1, command: ["XADD", key, "*", "payload", payload])
        _ = try await client.send("DEL", key)
        var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        let command = RedisCommand("XADD", key, "*", "payload", payload)
        let one = try await measureRate(count: single) {
            for _ in 0..<single {
                let start = clock.now
                _ = try await client.send(command)
                _ = latencies.record(UInt64((clock.now - start).nanoseconds))
            }
        }
        table.add("(c) one task vs -c 1 -P 1", spool: one, ceiling: ceilingSingle.rate)
        let p50 = Double(latencies.valueAtPercentile(50)) / 1000
        let ceilingP50 = (ceilingSingle.p50Milliseconds ?? .nan) * 1000
        print(String(format: "      latency p50 %.1f µs vs redis-benchmark %.1f µs", p50, ceilingP50))
        _ = try await client.send("DEL", key)
        await server.shutdown()
    }
}
