import Foundation
@testable import SpoolFaults
import Testing

@Suite("Checker on hand-written histories")
struct CheckerTests {
    func history(enqueues: String, executions: String, faults: String = "", effectFiles: [String]? = nil) throws -> History {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/effects", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try enqueues.write(toFile: directory + "/e", atomically: false, encoding: .utf8)
        try executions.write(toFile: directory + "/x", atomically: false, encoding: .utf8)
        try faults.write(toFile: directory + "/f", atomically: false, encoding: .utf8)
        for name in effectFiles ?? [] {
            #expect(FileManager.default.createFile(atPath: directory + "/effects/" + name, contents: nil))
        }
        return History.read(
            enqueueLog: directory + "/e", executionLog: directory + "/x", faultLog: directory + "/f",
            effectsDirectory: effectFiles == nil ? nil : directory + "/effects"
        )
    }

    @Test("acked but never handled is lost; indeterminate never is; unknown executions are unexpected")
    func classification() throws {
        let h = try history(
            enqueues: """
            enq ok a fault.normal 1 1
            enq ok b fault.normal 1 1
            enq indeterminate c fault.normal 1 2000
            enq failed d fault.normal 1 3
            enq ok p fault.poison 1 1

            """,
            executions: """
            exec a 1 1 w1 10 fault.normal
            effect a w1 11
            exec a 1 2 w2 20 fault.normal
            guard a w2 21
            exec z 1 1 w1 30 fault.normal
            effect z w1 31
            exec p 1 1 w1 10 fault.poison
            exec p 2 1 w1 10 fault.poison
            exec b 1 1 w1 40 fault.no-newline
            """
        )
        let report = Checker.check(h, deadLetters: ["p"])
        #expect(report.acked == 3 && report.failed == 1 && report.indeterminate == 1)
        #expect(report.lost == 1 && report.lostSample == ["b"])
        #expect(report.unexpected == 1)
        #expect(report.duplicateExecutions == 1)
        #expect(report.guardHits == 1 && report.duplicateEffects == 0)
        #expect(report.deadExpected == 1 && report.deadActual == 1 && report.deadMismatch == 0)
        #expect(report.maxDeliveries == 2)
        #expect(report.maxEnqueueMilliseconds == 2000)
    }

    @Test("an effect file no line logged (worker killed between creating and logging it) counts as handled")
    func unloggedEffectFile() throws {
        let h = try history(
            enqueues: "enq ok a fault.normal 1 1\nenq ok b fault.normal 1 1\n",
            executions: "exec a 1 1 w1 10 fault.normal\nexec a 2 2 w2 20 fault.normal\nguard a w2 21\nexec b 1 1 w2 30 fault.normal\neffect b w2 31\n",
            effectFiles: ["a", "b"]
        )
        let report = Checker.check(h, deadLetters: [])
        #expect(report.handled == 2 && report.lost == 0 && report.duplicateEffects == 0)
        #expect(h.effects == ["a": 1, "b": 1])
    }

    @Test("recovery after a kill: until the last job the killed worker held was handled")
    func killRecovery() throws {
        let h = try history(
            enqueues: "enq ok a fault.normal 1 1\nenq ok b fault.normal 1 1\n",
            executions: "exec a 1 1 w1 100 fault.normal\nexec b 1 1 w2 100 fault.normal\neffect b w2 150\nexec a 2 2 w2 1500 fault.normal\neffect a w2 1600\n",
            faults: "kill w1 200\n"
        )
        #expect(Checker.recovery(h) == 1400)
    }

    @Test("recovery after a Redis fault: until the first effect after it; 0 when every job had taken effect already")
    func serverFaultRecovery() throws {
        let faults = "fault redis-restart start 200\nfault redis-restart end 300\n"
        let waiting = try history(
            enqueues: "enq ok a fault.normal 1 1\nenq ok b fault.normal 1 1\n",
            executions: "exec a 1 1 w1 100 fault.normal\neffect a w1 150\nexec b 1 1 w1 700 fault.normal\neffect b w1 750\n",
            faults: faults
        )
        #expect(Checker.recovery(waiting) == 450)
        let stuck = try history(
            enqueues: "enq ok a fault.normal 1 1\nenq ok b fault.normal 1 1\n",
            executions: "exec a 1 1 w1 100 fault.normal\neffect a w1 150\n",
            faults: faults
        )
        #expect(Checker.recovery(stuck) == nil, "b never took effect: no recovery")
        let done = try history(
            enqueues: "enq ok a fault.normal 1 1\nenq failed b fault.normal 1 1\n",
            executions: "exec a 1 1 w1 100 fault.normal\neffect a w1 150\n",
            faults: faults
        )
        #expect(Checker.recovery(done) == 0, "nothing was left to do")
    }
}
