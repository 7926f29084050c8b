import Foundation
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
        // CSV: "test","rps",... then one row per test
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            if fields.count > 1, let rps = Double(fields[1]) { return rps }
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
