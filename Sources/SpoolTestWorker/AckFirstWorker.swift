import Foundation
import Spool
import SpoolRedis

/// A deliberately broken worker (a negative control for the fault suite): it reads a batch
/// with XREADGROUP, acknowledges the whole batch at once with a raw XACK, and only then runs
/// the jobs; after `crashAfter` jobs it SIGKILLs itself mid-batch. The rest of that batch was
/// acknowledged but never run, so the checker must report it as lost.
func runAckFirst(client: RedisClient, keys: QueueKeys, group: GroupName, name: String, crashAfter: Int, sleepMilliseconds: Int,
    effects: String, appendLine: @Sendable (String) -> Void
) async throws {
    mkdir(effects, 0o755)
    var handled = 0
    while true {
        let reply = try await client.send(RedisCommand(
            "XREADGROUP", ["GROUP", group.rawValue, name, "COUNT", "20", "BLOCK", "200", "STREAMS", keys.stream, ">"]
        ))
        guard let entries = reply.array?.first?.array?.dropFirst().first?.array, !entries.isEmpty else { continue }
        var jobs: [(entry: String, id: String)] = []
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let entryID = parts[0].string else { continue }
            let fields = parts[1].array ?? []
            var jobID = ""
            var index = 0
            while index + 1 < fields.count {
                if fields[index].string == "id" { jobID = fields[index + 1].string ?? "" }
                index += 2
            }
            jobs.append((entryID, jobID))
        }
        _ = try await client.send(RedisCommand("XACK", [keys.stream, group.rawValue] + jobs.map(\.entry)))
        for job in jobs {
            if handled == crashAfter { kill(getpid(), SIGKILL) }
            appendLine("exec \(job.id) 1 1 \(name) \(unixMillis()) fault.normal")
            if sleepMilliseconds > 0 { try await Task.sleep(for: .milliseconds(sleepMilliseconds)) }
            let file = open(effects + "/\(job.id)", O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if file >= 0 {
                close(file)
                appendLine("effect \(job.id) \(name) \(unixMillis())")
            }
            handled += 1
        }
    }
}
