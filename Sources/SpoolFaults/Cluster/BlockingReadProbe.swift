import SpoolRedis
import Synchronization

/// Times blocking reads (`XREADGROUP … BLOCK`, as a worker's idle fetch) on a dedicated
/// connection, the way a worker makes them: each with a timeout of the block time plus the
/// command timeout. It reads its own empty stream, so it never takes a job.
final class BlockingReadProbe: Sendable {
    /// The BLOCK time of each read (the workers use the same).
    let block = Duration.milliseconds(200)
    /// The client's command timeout.
    var timeout: Duration { client.configuration.commandTimeout }
    private let client: RedisClient
    private let results = Mutex<(calls: Int, failures: Int, slowest: Duration)>((0, 0, .zero))
    private static let stream = "faults:probe"

    init(url: String) throws {
        client = RedisClient(configuration: try FaultRun.clientConfiguration(url: url))
    }

    /// Creates the probe's group (before the link is cut).
    func prepare() async throws {
        let reply = try await client.send(RedisCommand("XGROUP", "CREATE", Self.stream, "probe", "$", "MKSTREAM"))
        if let error = reply.errorMessage, !error.hasPrefix("BUSYGROUP") { throw FaultsError("XGROUP CREATE: \(error)") }
    }

    /// Makes blocking reads one after another until `deadline`, timing each.
    func run(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            let started = ContinuousClock.now
            var failed = false
            do {
                _ = try await client.withDedicatedConnection { connection in
                    try await connection.send(
                        RedisCommand("XREADGROUP", "GROUP", "probe", "probe", "COUNT", "1", "BLOCK", String(Int(block / .milliseconds(1))), "STREAMS", Self.stream, ">"),
                        timeout: block + timeout
                    )
                }
            } catch {
                failed = true
            }
            let took = ContinuousClock.now - started
            results.withLock {
                $0.calls += 1
                $0.failures += failed ? 1 : 0
                $0.slowest = max($0.slowest, took)
            }
            if failed { try? await Task.sleep(for: .milliseconds(50)) }
        }
    }

    var calls: Int { results.withLock { $0.calls } }
    var slowest: Duration { results.withLock { $0.slowest } }
    var summary: String {
        results.withLock { "\($0.calls) blocking reads (\($0.failures) failed), slowest \(Int($0.slowest / .milliseconds(1))) ms" }
    }

    func shutdown() { client.shutdown() }
}
