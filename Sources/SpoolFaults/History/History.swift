import Foundation

/// What happened in one run, read back from its logs.
///
/// Line formats (space separated, times in Unix ms):
/// - enqueue log (the producers): `enq <ok|failed|indeterminate> <job-id> <type> <sent-ms> <latency-ms>`
/// - fault log (the runner): `fault <name> <start|end> <ms> [detail]`, `kill <worker> <ms>`
/// - execution log (the workers): `exec <job-id> <attempt> <deliveries> <worker> <ms> <type>`,
///   `effect <job-id> <worker> <ms>`, `guard <job-id> <worker> <ms>`
public struct History: Sendable {
    /// How an enqueue ended, as the producer saw it.
    public enum Outcome: String, Sendable {
        /// Redis acknowledged the XADD.
        case ok
        /// The command was never sent, or Redis refused it with an error reply.
        case failed
        /// Timeout or lost connection: it may or may not have been added.
        case indeterminate
    }

    public struct Enqueue: Sendable {
        public var outcome: Outcome
        public var type: String
        public var sentAt: Int64
        public var latency: Int64
    }

    public struct Execution: Sendable {
        public var attempt: Int
        public var deliveries: Int
        public var worker: String
        public var at: Int64
        public var type: String
    }

    public struct Fault: Sendable {
        public var name: String
        public var start: Int64
        public var end: Int64?
        /// For worker kills: the killed worker's name.
        public var worker: String?
    }

    public var enqueues: [String: Enqueue] = [:]
    public var executions: [String: [Execution]] = [:]
    /// Job id → times its effect was applied (the guard makes more than one a bug).
    public var effects: [String: Int] = [:]
    /// Job id → first effect time.
    public var effectTimes: [String: Int64] = [:]
    /// Worker name → times of the effects it applied (from `effect` lines).
    public var effectsByWorker: [String: [Int64]] = [:]
    /// Second runs the effect guard stopped.
    public var guardHits = 0
    public var faults: [Fault] = []

    /// Reads the three logs, and the effect files in `effectsDirectory` if given: a worker
    /// killed between creating an effect file and logging it still applied the effect.
    public static func read(enqueueLog: String, executionLog: String, faultLog: String, effectsDirectory: String? = nil) -> History {
        var history = History()
        for words in HistoryLog.records(at: enqueueLog) where words.count >= 6 && words[0] == "enq" {
            guard let outcome = Outcome(rawValue: String(words[1])) else { continue }
            history.enqueues[String(words[2])] = Enqueue(
                outcome: outcome, type: String(words[3]), sentAt: Int64(words[4]) ?? 0, latency: Int64(words[5]) ?? 0
            )
        }
        for words in HistoryLog.records(at: executionLog) {
            switch words.first {
            case "exec" where words.count >= 7:
                history.executions[String(words[1]), default: []].append(Execution(
                    attempt: Int(words[2]) ?? 0, deliveries: Int(words[3]) ?? 0, worker: String(words[4]),
                    at: Int64(words[5]) ?? 0, type: String(words[6])
                ))
            case "effect" where words.count >= 4:
                let id = String(words[1])
                history.effects[id, default: 0] += 1
                if history.effectTimes[id] == nil { history.effectTimes[id] = Int64(words[3]) ?? 0 }
                history.effectsByWorker[String(words[2]), default: []].append(Int64(words[3]) ?? 0)
            case "guard":
                history.guardHits += 1
            default:
                break
            }
        }
        for words in HistoryLog.records(at: faultLog) {
            if words.first == "fault", words.count >= 4, let at = Int64(words[3]) {
                let name = String(words[1])
                if words[2] == "start" {
                    history.faults.append(Fault(name: name, start: at, end: nil, worker: nil))
                } else if let index = history.faults.lastIndex(where: { $0.name == name && $0.end == nil }) {
                    history.faults[index].end = at
                }
            } else if words.first == "kill", words.count >= 3, let at = Int64(words[2]) {
                history.faults.append(Fault(name: "kill", start: at, end: at, worker: String(words[1])))
            }
        }
        // after the effect lines: a file no line logged was created by a worker killed
        // before it could log it
        if let effectsDirectory {
            history.addEffectFiles(in: effectsDirectory)
        }
        return history
    }
}

extension History {
    /// Counts effect files that no `effect` line logged, dated by their modification time.
    mutating func addEffectFiles(in directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where effects[name] == nil {
            effects[name] = 1
            let modified = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.modificationDate] as? Date) ?? nil
            effectTimes[name] = modified.map { Int64($0.timeIntervalSince1970 * 1000) } ?? 0
        }
    }
}
