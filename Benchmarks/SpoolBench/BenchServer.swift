import Foundation
import Logging
import ServiceLifecycle
import Spool
import SpoolRedis
import SpoolTesting

/// The Redis server a benchmark runs against: one it starts (default) or one given by URL.
struct BenchServer {
    let configuration: RedisConfiguration
    let host: String
    let port: Int
    private let owned: RedisServer?

    static func start(url: String?) async throws -> BenchServer {
        if let url {
            let configuration = try RedisConfiguration(url: url)
            guard case .tcp(let host, let port) = configuration.address else {
                throw BenchError("benchmarks need a TCP address (redis-benchmark runs beside them)")
            }
            return BenchServer(configuration: configuration, host: host, port: port, owned: nil)
        }
        let server = try await RedisServer.start()
        return BenchServer(
            configuration: try RedisConfiguration(url: server.url),
            host: server.host,
            port: server.port,
            owned: server
        )
    }

    func shutdown() async {
        await owned?.shutdown()
    }

    /// Runs `redis-benchmark` for one command shape and returns requests per second.
    func redisBenchmark(requests: Int, clients: Int, pipeline: Int, command: [String]) throws -> Double {
        try redisBenchmarkResult(requests: requests, clients: clients, pipeline: pipeline, command: command).rate
    }

    /// What one `redis-benchmark` run reports: requests per second and latency percentiles.
    struct RedisBenchmarkResult {
        var rate: Double
        var p50Milliseconds: Double?
        var p99Milliseconds: Double?
    }

    /// Runs `redis-benchmark` for one command shape and returns its rate and latencies.
    func redisBenchmarkResult(requests: Int, clients: Int, pipeline: Int, command: [String]) throws -> RedisBenchmarkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-benchmark", "-h", host, "-p", String(port), "-n", String(requests),
            "-c", String(clients), "-P", String(pipeline), "--csv"] + command
        if let password = configuration.password { process.environment = ["REDISCLI_AUTH": password, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"] }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        // CSV (Redis 7): "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",
        // "p95_latency_ms","p99_latency_ms","max_latency_ms", then one row per test
        let lines = text.split(separator: "\n").map { line in
            line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        guard let header = lines.first else { throw BenchError("redis-benchmark printed nothing") }
        for fields in lines.dropFirst() {
            guard fields.count > 1, let rps = Double(fields[1]) else { continue }
            func column(_ name: String) -> Double? {
                header.firstIndex(of: name).flatMap { $0 < fields.count ? Double(fields[$0]) : nil }
            }
            return RedisBenchmarkResult(rate: rps, p50Milliseconds: column("p50_latency_ms"), p99Milliseconds: column("p99_latency_ms"))
        }
        throw BenchError("could not read redis-benchmark output: \(text.prefix(200))")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Wall-clock rate of `count` operations done by `body`.
func measureRate(count: Int, _ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(count) / seconds
}

/// Prints rows of a comparison table.
struct ResultTable {
    private var rows: [(String, Double, Double)] = []

    mutating func add(_ shape: String, spool: Double, ceiling: Double) {
        rows.append((shape, spool, ceiling))
        let label = shape.padding(toLength: 44, withPad: " ", startingAt: 0)
        print(String(format: "  %@ %10.0f/s   redis-benchmark %10.0f/s   ratio %5.2f", label, spool, ceiling, spool / ceiling))
    }
}

/// Runs `worker` in a service group until `isDone` holds (polled every `interval`), then shuts
/// it down gracefully; returns the time from start until `isDone` held.
func runWorker(
    _ worker: SpoolWorker, logger: Logger, polling interval: Duration = .milliseconds(2), until isDone: () async throws -> Bool
) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    var elapsed = Duration.zero
    try await withThrowingTaskGroup(of: Void.self) { group in
        let serviceGroup = ServiceGroup(services: [worker], logger: logger)
        group.addTask { try await serviceGroup.run() }
        while try await !isDone() {
            try await Task.sleep(for: interval)
        }
        elapsed = clock.now - start
        await serviceGroup.triggerGracefulShutdown()
        try await group.waitForAll()
    }
    return elapsed
}
