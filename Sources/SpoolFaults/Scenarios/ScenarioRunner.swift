import Synchronization
import Foundation
import SpoolTesting

/// Runs scenarios end to end and checks them.
public enum ScenarioRunner {
    /// Runs `scenario` and returns the checker's report. The run's directory is removed
    /// when it passed and kept (its path in the notes) when it failed or `keep` is set.
    public static func run(_ scenario: Scenario, _ parameters: Scenario.Parameters, keep: Bool = false) async throws -> Report {
        let started = ContinuousClock.now
        let network = try RunNetwork(scenario.network)
        let server: RedisServer
        do {
            server = try await RedisServer.start(network.serverOptions(scenario.redis))
        } catch {
            network.tearDown()
            throw error
        }
        let run: FaultRun
        do {
            run = try FaultRun(
                server: server, network: network, seed: parameters.seed, workerSettings: scenario.workerSettings,
                replacementMode: "faults"
            )
        } catch {
            await server.shutdown()
            network.tearDown()
            throw error
        }
        var report: Report
        do {
            try await run.createGroup()
            for _ in 0..<scenario.workers { try run.startWorker(mode: scenario.workerMode) }
            let supervisor = Task { await run.supervise() }
            let outcome: Scenario.Outcome
            do {
                outcome = try await scenario.body(run, parameters)
            } catch {
                run.supervising.store(false, ordering: .relaxed)
                await supervisor.value
                throw error
            }
            await run.awaitQuiescence(within: scenario.drainLimit)
            run.supervising.store(false, ordering: .relaxed)
            await supervisor.value
            report = try await run.check()
            report.checks.merge(outcome.checks) { _, new in new }
            if let window = scenario.lossWindow {
                let history = run.history()
                let starts = history.faults.filter { $0.worker == nil }.map(\.start)
                let width = Int64(window / .milliseconds(1))
                report.lossAllowed = report.lostIDs.filter { id in
                    guard let sent = history.enqueues[id]?.sentAt else { return false }
                    return starts.contains { sent <= $0 && sent >= $0 - width }
                }.count
            }
            report.notes += outcome.notes
        } catch {
            run.stopAll()
            await server.shutdown()
            network.tearDown()
            throw error
        }
        run.stopAll()
        await server.shutdown()
        network.tearDown()
        report.scenario = scenario.name
        report.seed = parameters.seed
        report.isNegativeControl = scenario.isNegativeControl
        report.seconds = Double((ContinuousClock.now - started).components.seconds)
            + Double((ContinuousClock.now - started).components.attoseconds) / 1e18
        if keep || !report.passed {
            report.notes.append("logs kept in \(run.directory)")
        } else {
            try? FileManager.default.removeItem(atPath: run.directory)
        }
        return report
    }
}
