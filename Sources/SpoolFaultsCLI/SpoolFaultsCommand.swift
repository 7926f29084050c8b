import ArgumentParser
import Foundation
import SpoolFaults

@main
struct SpoolFaultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool-faults",
        abstract: "Fault-injection runs against real redis-server and worker processes, checked Jepsen-style.",
        subcommands: [Run.self, List.self]
    )
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the scenarios.")

    func run() {
        for scenario in Scenario.all {
            print("\(scenario.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(scenario.summary)")
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run scenarios and print one table row each; exits 1 if any failed.")

    @Argument(help: "Scenario names, or `all`.")
    var scenarios: [String]

    @Option(help: "Seeds (comma separated); each scenario runs once per seed.")
    var seed: String = "1"

    @Option(help: "Jobs to enqueue per run.")
    var jobs: Int = 1_000

    @Flag(help: "The full form: more faults (e.g. 20+ worker kills) and a fixed enqueue rate of 1,500/s.")
    var full = false

    @Flag(help: "Keep each run's logs (the path is printed).")
    var keep = false

    @Flag(help: "Print each report as JSON after the table.")
    var json = false

    func validate() throws {
        let seeds = seed.split(separator: ",").map { UInt64($0) }
        if seeds.isEmpty || seeds.contains(nil) { throw ValidationError("--seed takes numbers separated by commas") }
        for name in scenarios where name != "all" && Scenario.named(name) == nil {
            throw ValidationError("unknown scenario \(name); see `spool-faults list`")
        }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() async throws {
        let selected = scenarios.contains("all") ? Scenario.all : scenarios.compactMap(Scenario.named)
        let seeds = seed.split(separator: ",").compactMap { UInt64($0) }
        print(Report.tableHeader)
        var reports: [Report] = []
        var notRunnable = 0
        for scenario in selected {
            for seed in seeds {
                let report: Report
                do {
                    report = try await ScenarioRunner.run(scenario, .init(seed: seed, jobs: jobs, full: full), keep: keep)
                } catch let error as ScenarioNotRunnable {
                    print("| \(scenario.name) | \(seed) | \(error) |")
                    notRunnable += 1
                    continue
                }
                print(report.tableRow)
                for note in report.notes { print("  - \(note)") }
                if !report.lostSample.isEmpty && !report.passed { print("  - lost e.g. \(report.lostSample.joined(separator: " "))") }
                if !report.unexpectedDead.isEmpty { print("  - dead-lettered but not poison, e.g. \(report.unexpectedDead.joined(separator: " "))") }
                if !report.missingDead.isEmpty { print("  - poison but not dead-lettered, e.g. \(report.missingDead.joined(separator: " "))") }
                fflush(nil)
                reports.append(report)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(reports), as: UTF8.self))
        }
        if notRunnable > 0 { print("\(notRunnable) run(s) not runnable on this machine (see above)") }
        if notRunnable > 0 || reports.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
