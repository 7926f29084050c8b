import ArgumentParser
import Foundation
import Logging
import Spool
import SpoolRedis
import SpoolTesting

/// `spool-bench cluster`: process throughput of 3 queues on a 3-master Redis Cluster and on
/// one Redis, measured alternately in the same run.
struct ClusterBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Process rate of 3 queues (one in-process worker, concurrency 32 per queue, dedup on): one Redis vs a 3-master cluster (1 replica per master by default)."
    )

    @Option(help: "Jobs per queue per measurement.")
    var jobs = 20_000

    @Option(help: "Rounds; each measures one Redis, then the cluster.")
    var rounds = 2

    @Flag(help: "Persist with appendonly yes, appendfsync always on every server (default: no persistence).")
    var aof = false

    @Option(help: "Replicas per cluster master (0 measures routing without replication).")
    var replicas = 1

    func run() async throws {
        let logger = Logger(label: "spool.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = try await RedisServer.start(.init(appendOnly: aof))
        let cluster = try await RedisCluster.start(.init(replicasPerMaster: replicas, appendOnly: aof))
        do {
            let queues = try await spreadQueues(cluster)
            var masters: [Int] = []
            for queue in queues { masters.append(try await cluster.master(ofSlot: RedisHashSlot.of(QueueKeys(queue: queue).stream)).port) }
            print("process: 3 queues × \(jobs) no-op jobs, one SpoolWorker (concurrency 32 per queue, dedup on); "
                + "persistence \(aof ? "AOF always" : "off"); cluster of 3 masters with \(replicas) replica(s) each")
            print("  queues \(queues.map(\.rawValue)) on cluster masters \(masters)")
            for round in 1...rounds {
                var rates: [Double] = []
                for (name, url) in [("one Redis", server.url), ("3-master cluster", cluster.url)] {
                    let (rate, cpu) = try await measure(url: url, queues: queues, round: round, logger: logger)
                    rates.append(rate)
                    print(String(
                        format: "  round %d  %@ %6.0f jobs/s   %5.1f µs worker CPU per job",
                        round, name.padding(toLength: 17, withPad: " ", startingAt: 0), rate, cpu
                    ))
                }
                print("  round \(round)  cluster ÷ one Redis  \(String(format: "%.2f", rates[1] / rates[0]))×")
            }
        } catch {
            await cluster.shutdown()
            await server.shutdown()
            throw error
        }
        await cluster.shutdown()
        await server.shutdown()
    }

    /// Three queue names whose slots are served by three different masters.
    private func spreadQueues(_ cluster: RedisCluster) async throws -> [QueueName] {
        var byMaster: [Int: QueueName] = [:]
        for index in 0..<1000 where byMaster.count < 3 {
            let queue = try QueueName("bench.cluster.\(index)")
            let port = try await cluster.master(ofSlot: RedisHashSlot.of(QueueKeys(queue: queue).stream)).port
            if byMaster[port] == nil { byMaster[port] = queue }
        }
        return byMaster.values.sorted { $0.rawValue < $1.rawValue }
    }

    /// Fills the queues, then times one worker draining all of them; returns jobs per second
    /// and this process's CPU per job in µs (worker and client; Redis not counted).
    private func measure(url: String, queues: [QueueName], round: Int, logger: Logger) async throws -> (rate: Double, cpu: Double) {
        let client = RedisClient(configuration: try RedisConfiguration(url: url), logger: logger)
        defer { client.shutdown() }
        let producer = SpoolProducer(client: client, logger: logger)
        let jobs = self.jobs
        for queue in queues {
            let keys = QueueKeys(queue: queue)
            _ = try await client.pipeline([
                RedisCommand("DEL", keys.stream, keys.done(.default), keys.retry(.default)),
                RedisCommand("XGROUP", "CREATE", keys.stream, "default", "0", "MKSTREAM"),
            ])
            try await pushTicksInBatches(jobs: jobs, producer: producer, queue: queue)
        }
        var configuration = SpoolWorker.Configuration()
        configuration.consumerName = "bench-\(round)"
        var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
        for queue in queues {
            worker.subscribe(queue: queue, options: .init(concurrency: 32))
            worker.register(Tick.self, queue: queue) { _, _ in }
        }
        let total = jobs / 100 * 100 * queues.count
        let cpuStart = ProcessStatus.cpuSeconds()
        // done when every job is acknowledged (its completion recorded in its dedup set)
        let elapsed = try await runWorker(worker, logger: logger, polling: .milliseconds(5)) {
            let counts = try await client.pipeline(queues.map { RedisCommand("ZCARD", QueueKeys(queue: $0).done(.default)) })
            return counts.reduce(0, { $0 + ($1.int ?? 0) }) >= total
        }
        let cpu = ProcessStatus.cpuSeconds() - cpuStart
        return (Double(total) / elapsed.seconds, cpu / Double(total) * 1e6)
    }
}
