import ArgumentParser
import Foundation
import Logging
import Spool
import SpoolRedis

/// `spool-bench all`: every figure of the performance targets, each beside its raw Redis
/// ceiling, in one run against one private redis-server (no persistence, loopback).
struct AllBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all",
        abstract: "Ceilings (redis-benchmark, hand-pipelined lifecycle) and Spool's push, process, pickup latency and memory, in one run."
    )

    @Flag(help: "Smaller counts and a 3-second trickle: finishes in well under a minute.")
    var quick = false

    /// The parts of the run, for `--only` (to profile one measurement with `perf record`).
    enum Section: String, CaseIterable, ExpressibleByArgument {
        case ceilings, push, process, processes, pickup, exec, memory
    }

    @Option(help: "Run only these parts (repeatable): \(Section.allCases.map(\.rawValue).joined(separator: ", ")). Without ceilings, no ratios.")
    var only: [Section] = []

    @Option(help: "Run everything this many times; the table then gives each figure's median (the targets are medians) and each round's value.")
    var rounds = 1

    @Option(help: "Also write the results as JSON to this path.")
    var json: String?

    @Option(help: "A label for the code measured (Scripts/bench.sh passes the git revision).")
    var revision: String?

    @Option(help: "The spool-test-worker binary for the two-process measurement. Defaults to the one beside spool-bench.")
    var testWorker: String?

    @Option(help: "The spool binary for the process-per-job measurement. Defaults to the one beside spool-bench.")
    var spool: String?

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() async throws {
        let sizes = Sizes(quick: quick)
        let server = try await BenchServer.start(url: nil)
        let client = RedisClient(configuration: server.configuration)
        let logger = Logger(label: "spool.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let context = BenchContext(server: server, client: client, logger: logger, sizes: sizes)
        do {
            let info = try await client.send("INFO", "server").string ?? ""
            let blank = BenchReport(
                date: ISO8601DateFormatter().string(from: Date()),
                revision: revision,
                quick: quick,
                machine: "\(ProcessStatus.processorCount) cores, \(Self.cpuModel())",
                redisVersion: Self.infoField("redis_version", in: info) ?? "?"
            )
            print("spool-bench all\(quick ? " --quick" : ""): Redis \(blank.redisVersion) at \(client.redactedAddress), \(blank.machine)")

            var reports: [BenchReport] = []
            for round in 1...rounds {
                if rounds > 1 { print("\n==> round \(round) of \(rounds)") }
                var report = blank
                try await measure(context, into: &report)
                reports.append(report)
            }
            let report = BenchReport.medians(of: reports)

            print("\n" + report.table)
            if let json {
                try report.writeJSON(to: json)
                print("\nwrote \(json)")
            }
        } catch {
            client.shutdown()
            await server.shutdown()
            throw error
        }
        client.shutdown()
        await server.shutdown()
    }

    /// One round: every part `--only` selects, each Spool figure beside the ceiling measured
    /// in the same round.
    private func measure(_ context: BenchContext, into report: inout BenchReport) async throws {
        let runs = { (section: Section) in only.isEmpty || only.contains(section) }
        let ceilings = runs(.ceilings) ? try await context.measureCeilings() : nil
        if runs(.push) { try await context.measurePush(ceilings: ceilings, into: &report) }
        if runs(.process) { try await context.measureProcessing(ceilings: ceilings, into: &report) }
        if runs(.processes) {
            try await context.measureTwoProcesses(
                binary: testWorker ?? Self.sibling("spool-test-worker"), ceilings: ceilings, into: &report)
        }
        if runs(.pickup) { try await context.measurePickup(into: &report) }
        if runs(.exec) { try await context.measureExecHandler(binary: spool ?? Self.sibling("spool"), into: &report) }
        if runs(.memory) { try await context.measureMemory(into: &report) }
    }

    /// A binary in the same directory as this one (SwiftPM puts all products of a build there).
    static func sibling(_ name: String) -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(name).path
    }

    static func infoField(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    private static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        }
        return "unknown CPU"
    }
}

/// How much each measurement does, full or `--quick`.
struct Sizes: Sendable {
    var redisBenchmarkRequests: Int
    var lifecycleJobs: Int
    var singlePushes: Int
    var pushJobs: Int
    var processJobs: Int
    var memoryJobs: Int
    var trickle: Duration
    var trickleRate = 200

    init(quick: Bool) {
        redisBenchmarkRequests = quick ? 50_000 : 200_000
        lifecycleJobs = quick ? 20_000 : 100_000
        singlePushes = quick ? 5_000 : 20_000
        pushJobs = quick ? 20_000 : 100_000
        processJobs = quick ? 20_000 : 100_000
        memoryJobs = quick ? 20_000 : 100_000
        trickle = quick ? .seconds(3) : .seconds(10)
    }
}

/// What every measurement of one run shares.
struct BenchContext: Sendable {
    let server: BenchServer
    let client: RedisClient
    let logger: Logger
    let sizes: Sizes

    /// Empties the server so that each measurement starts alike.
    func flush() async throws {
        _ = try await client.send("FLUSHALL", "SYNC")
    }

    /// `INFO memory` used_memory, in bytes.
    func usedMemory() async throws -> Int {
        let info = try await client.send("INFO", "memory").string ?? ""
        guard let value = AllBenchmark.infoField("used_memory", in: info).flatMap({ Int($0) }) else {
            throw BenchError("INFO memory has no used_memory")
        }
        return value
    }
}
