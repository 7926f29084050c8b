import ArgumentParser
import Foundation
import SpoolRedis
import SpoolTesting
#if canImport(Glibc)
import Glibc
#endif

/// `spool-bench tls`: the cost of TLS, plaintext and `rediss://` against one private Redis.
struct TLSBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "XADDs of 60 bytes (64 concurrent tasks; batches of 100), plaintext and TLS, against one private Redis."
    )

    @Option(help: "XADDs per measurement.")
    var requests = 200_000

    @Option(help: "Rounds; each measures plaintext then TLS, so both see the same machine state.")
    var rounds = 2

    func run() async throws {
        let certificates = try await TestCertificates.make()
        defer { certificates.remove() }
        let tls = RedisServer.Options.TLS(
            certificateFile: certificates.serverCertificate, keyFile: certificates.serverKey, caFile: certificates.caFile
        )
        let server = try await RedisServer.start(.init(tls: tls))
        let plain = RedisClient(configuration: try RedisConfiguration(url: server.url))
        let secure = RedisClient(configuration: try RedisConfiguration(url: "\(server.tlsURL!)?ca=\(certificates.caFile)"))
        defer {
            plain.shutdown()
            secure.shutdown()
        }
        print("XADD of a 60-byte field, \(requests) per measurement; client CPU is user+system time of this process")
        for round in 1...rounds {
            for (name, client) in [("plaintext", plain), ("TLS", secure)] {
                let concurrent = try await measure(client, concurrent: true)
                let batched = try await measure(client, concurrent: false)
                print(String(
                    format: "  round %d %@  64 tasks %9.0f/s (%5.2f µs CPU/cmd)   batches of 100 %9.0f/s (%5.2f µs CPU/cmd)",
                    round, name.padding(toLength: 9, withPad: " ", startingAt: 0), concurrent.rate, concurrent.cpuMicros, batched.rate, batched.cpuMicros
                ))
            }
        }
        await server.shutdown()
    }

    /// Rate and client CPU per command of `requests` XADDs, from 64 tasks or in batches of 100.
    private func measure(_ client: RedisClient, concurrent: Bool) async throws -> (rate: Double, cpuMicros: Double) {
        let key = "spool-bench:tls"
        let payload = String(repeating: "x", count: 60)
        let requests = self.requests
        _ = try await client.send("DEL", key)
        let cpuBefore = Self.cpuMicros()
        let rate: Double
        if concurrent {
            rate = try await measureRate(count: requests) {
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
        } else {
            let batch = Array(repeating: RedisCommand("XADD", key, "*", "payload", payload), count: 100)
            rate = try await measureRate(count: requests / 100 * 100) {
                for _ in 0..<(requests / 100) {
                    _ = try await client.pipeline(batch)
                }
            }
        }
        let cpu = Self.cpuMicros() - cpuBefore
        _ = try await client.send("DEL", key)
        return (rate, cpu / Double(requests))
    }

    /// User plus system CPU time of this process so far, in microseconds.
    private static func cpuMicros() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func micros(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
        return micros(usage.ru_utime) + micros(usage.ru_stime)
    }
}
