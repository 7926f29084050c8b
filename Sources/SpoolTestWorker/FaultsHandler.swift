import Foundation
import Spool

/// The fault suite's handler. Every execution appends
/// `exec <job-id> <attempt> <deliveries> <worker> <unix-ms> <type>` to the log first; then by
/// job type: `fault.crash` SIGKILLs its own process, `fault.poison` throws, anything else
/// sleeps the payload's milliseconds and applies its effect once.
///
/// The effect is guarded by a per-job file created with `O_CREAT | O_EXCL` in the effects
/// directory (not in Redis, so Redis losing data cannot forge a second effect). Creating it
/// is the effect, logged as `effect <id> <worker> <ms>`; a run that finds the file already
/// there logs `guard <id> <worker> <ms>` (a second run stopped by the guard).
struct FaultsHandler: Sendable {
    struct Poisoned: Error {}

    let worker: String
    let effectsDirectory: String
    let append: @Sendable (String) -> Void

    init(worker: String, effectsDirectory: String, append: @escaping @Sendable (String) -> Void) {
        self.worker = worker
        self.effectsDirectory = effectsDirectory
        self.append = append
        mkdir(effectsDirectory, 0o755)
    }

    func handle(_ envelope: JobEnvelope, _ context: JobContext) async throws {
        append("exec \(envelope.id) \(context.attempt) \(context.deliveryCount) \(worker) \(unixMillis()) \(envelope.type)")
        switch envelope.type {
        case "fault.crash":
            kill(getpid(), SIGKILL)
        case "fault.poison":
            throw Poisoned()
        default:
            break
        }
        let sleep = Int(String(decoding: envelope.payload, as: UTF8.self)) ?? 0
        if sleep > 0 {
            try await Task.sleep(for: .milliseconds(sleep))
        }
        let file = open(effectsDirectory + "/\(envelope.id)", O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if file >= 0 {
            close(file)
            append("effect \(envelope.id) \(worker) \(unixMillis())")
        } else {
            append("guard \(envelope.id) \(worker) \(unixMillis())")
        }
    }
}

/// Unix time in milliseconds.
func unixMillis() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}
