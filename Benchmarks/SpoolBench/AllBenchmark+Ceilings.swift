import SpoolRedis

/// The raw Redis figures Spool is compared with.
struct Ceilings: Sendable {
    /// `redis-benchmark -c 50 -P 1` XADD.
    var concurrent: BenchServer.RedisBenchmarkResult
    /// `redis-benchmark -c 1 -P 64` XADD.
    var pipelined: BenchServer.RedisBenchmarkResult
    /// `redis-benchmark -c 1 -P 1` XADD: one client, one command at a time.
    var single: BenchServer.RedisBenchmarkResult
    /// `redis-benchmark -c 1 -P 100` XADD of the entry a pushed `Tick` becomes (four fields):
    /// what Redis itself does with the batch push's own entries, in batches of its size.
    var entryPipelined: BenchServer.RedisBenchmarkResult
    /// Hand-pipelined XADD → XREADGROUP → XACK in batches of 100, one task, jobs/s.
    var lifecycleOneTask: Double
    /// The same with producer and consumer in two tasks on separate connections, jobs/s.
    var lifecycleTwoTasks: Double

    /// The better lifecycle figure: what processing is compared with.
    var lifecycle: Double { max(lifecycleOneTask, lifecycleTwoTasks) }
    var lifecycleSource: String {
        lifecycleTwoTasks >= lifecycleOneTask ? "hand-pipelined lifecycle, 2 tasks" : "hand-pipelined lifecycle, 1 task"
    }
}

extension BenchContext {
    static let ceilingPayload = String(repeating: "x", count: 60)
    /// The fields of a pushed `Tick`'s stream entry (docs/wire-format.md), with a fixed job id.
    static let tickEntry = ["v", "1", "id", "0192f0c1-7c2a-7a3b-9c4d-5e6f7a8b9c0d", "type", Tick.jobName, "payload", #"{"n":12345}"#]

    func measureCeilings() async throws -> Ceilings {
        print("ceilings: redis-benchmark XADD of a 60-byte field, hand-pipelined lifecycle")
        try await flush()
        let xadd = ["XADD", "bench:xadd", "*", "payload", Self.ceilingPayload]
        let requests = sizes.redisBenchmarkRequests
        let concurrent = try server.redisBenchmarkResult(requests: requests, clients: 50, pipeline: 1, command: xadd)
        try await flush()
        let pipelined = try server.redisBenchmarkResult(requests: requests, clients: 1, pipeline: 64, command: xadd)
        try await flush()
        let single = try server.redisBenchmarkResult(requests: requests / 4, clients: 1, pipeline: 1, command: xadd)
        try await flush()
        let entry = try server.redisBenchmarkResult(
            requests: requests, clients: 1, pipeline: 100, command: ["XADD", "bench:entry", "*"] + Self.tickEntry
        )
        try await flush()
        print("  redis-benchmark -c 50 -P 1: \(Int(concurrent.rate))/s, -c 1 -P 64: \(Int(pipelined.rate))/s, -c 1 -P 1: \(Int(single.rate))/s")
        print("  redis-benchmark -c 1 -P 100, XADD of a Tick job's entry: \(Int(entry.rate))/s")

        let oneTask = try await lifecycleOneTask(jobs: sizes.lifecycleJobs)
        try await flush()
        let twoTasks = try await lifecycleTwoTasks(jobs: sizes.lifecycleJobs)
        try await flush()
        print("  lifecycle, batches of 100: one task \(Int(oneTask))/s, two tasks \(Int(twoTasks))/s")
        return Ceilings(
            concurrent: concurrent, pipelined: pipelined, single: single, entryPipelined: entry,
            lifecycleOneTask: oneTask, lifecycleTwoTasks: twoTasks
        )
    }

    private static let lifecycleKey = "bench:lifecycle"

    private static func xadds() -> [RedisCommand] {
        Array(repeating: RedisCommand("XADD", lifecycleKey, "*", "payload", ceilingPayload), count: 100)
    }

    private static func readCommand(block: Bool) -> RedisCommand {
        block
            ? RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "BLOCK", "1000", "STREAMS", lifecycleKey, ">")
            : RedisCommand("XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "STREAMS", lifecycleKey, ">")
    }

    private static func ackCommand(_ ids: [[UInt8]]) -> RedisCommand {
        var ack = RedisCommand(name: "XACK", reservingBytes: 24 * ids.count + 32, arguments: ids.count + 2)
        ack.append(lifecycleKey)
        ack.append("g")
        for id in ids { ack.append(id) }
        return ack
    }

    /// Pipeline 100 XADDs, XREADGROUP COUNT 100, XACK the 100 ids; one task, one connection.
    func lifecycleOneTask(jobs: Int) async throws -> Double {
        let client = self.client
        _ = try await client.send("XGROUP", "CREATE", Self.lifecycleKey, "g", "$", "MKSTREAM")
        let adds = Self.xadds()
        let read = Self.readCommand(block: false)
        return try await measureRate(count: jobs / 100 * 100) {
            for _ in 0..<(jobs / 100) {
                _ = try await client.pipeline(adds)
                let ids = Self.entryIDs(try await client.send(read))
                _ = try await client.send(Self.ackCommand(ids))
            }
        }
    }

    /// The same, with the producer on a shared connection and the consumer (XREADGROUP BLOCK,
    /// XACK) on a dedicated one, in two tasks.
    func lifecycleTwoTasks(jobs: Int) async throws -> Double {
        let client = self.client
        let total = jobs / 100 * 100
        _ = try await client.send("XGROUP", "CREATE", Self.lifecycleKey, "g", "$", "MKSTREAM")
        let adds = Self.xadds()
        let read = Self.readCommand(block: true)
        return try await measureRate(count: total) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await client.withDedicatedConnection { connection in
                        var acknowledged = 0
                        while acknowledged < total {
                            let ids = Self.entryIDs(try await connection.send(read, timeout: .seconds(5)))
                            if ids.isEmpty { continue }
                            _ = try await connection.send(Self.ackCommand(ids))
                            acknowledged += ids.count
                        }
                    }
                }
                group.addTask {
                    for _ in 0..<(total / 100) {
                        _ = try await client.pipeline(adds)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// The entries of an XREADGROUP reply: `[[key, [[id, [field, value, …]], …]], …]`.
    static func entries(_ reply: RESPValue) -> [(id: [UInt8], fields: [RESPValue])] {
        guard let streams = reply.array else { return [] }
        var result: [(id: [UInt8], fields: [RESPValue])] = []
        for stream in streams {
            guard let pair = stream.array, pair.count == 2, let entries = pair[1].array else { continue }
            result.reserveCapacity(entries.count)
            for entry in entries {
                guard let parts = entry.array, let id = parts.first?.bytes else { continue }
                result.append((id, parts.count > 1 ? parts[1].array ?? [] : []))
            }
        }
        return result
    }

    static func entryIDs(_ reply: RESPValue) -> [[UInt8]] {
        entries(reply).map(\.id)
    }
}
