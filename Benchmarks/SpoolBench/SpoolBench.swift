import ArgumentParser

@main
struct SpoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool-bench",
        abstract: "Spool's benchmarks, each against the raw Redis ceiling measured in the same run.",
        subcommands: [AllBenchmark.self, RedisBenchmark.self, QueueBenchmark.self, MicroBenchmark.self, TLSBenchmark.self, ClusterBenchmark.self]
    )
}
