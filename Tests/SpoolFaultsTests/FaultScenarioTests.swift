import Foundation
import SpoolFaults
import Testing

/// The short form of every fault scenario (one seed, a few hundred jobs): the pass criteria
/// of docs/reliability.md. The suite is serialized: each run starts its own redis-server and
/// worker processes, and the machine has two cores.
@Suite("Fault scenarios (short form)", .serialized)
struct FaultScenarioTests {
    static let names = Scenario.all.map(\.name)

    @Test("scenario passes its criteria", arguments: names)
    func scenario(_ name: String) async throws {
        let scenario = try #require(Scenario.named(name))
        let report: Report
        do {
            report = try await ScenarioRunner.run(scenario, .init(seed: 1, jobs: name == "lag" ? 1_000 : 600, full: false))
        } catch let error as ScenarioNotRunnable {
            // Network partitions need root (CAP_NET_ADMIN) and nftables. CI runs as root, so
            // there it is a failure; elsewhere a known issue that the test output lists.
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("\(name): \(error)")
            } else {
                withKnownIssue("\(name): \(error)") { throw error }
            }
            return
        }
        let summary = "\(Report.tableHeader)\n\(report.tableRow)\n" + report.notes.joined(separator: "\n")
        if scenario.isNegativeControl {
            #expect(report.lost > 0, "a negative control must be reported as loss\n\(summary)")
        } else {
            #expect(report.lost - report.lossAllowed == 0, "lost \(report.lostSample)\n\(summary)")
            #expect(report.duplicateEffects == 0, "\(summary)")
            #expect(report.unexpected == 0, "\(summary)")
            #expect(report.deadMismatch == 0, "dead letters: unexpected \(report.unexpectedDead), missing \(report.missingDead)\n\(summary)")
            for (check, passed) in report.checks.sorted(by: { $0.key < $1.key }) {
                #expect(passed, "check \(check) failed\n\(summary)")
            }
        }
    }
}
