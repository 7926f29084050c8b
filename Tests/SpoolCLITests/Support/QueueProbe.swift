import Foundation
import SpoolTesting

/// Reads a queue's keys with redis-cli.
struct QueueProbe {
    let server: RedisServer
    let queue: String
    var group = "default"

    var stream: String { "spool:{\(queue)}:stream" }
    var dead: String { "spool:{\(queue)}:dead:\(group)" }
    var done: String { "spool:{\(queue)}:done:\(group)" }

    func count(_ command: String, _ key: String) throws -> Int {
        Int(try server.cli(command, key)) ?? -1
    }

    func doneCount() throws -> Int { try count("ZCARD", done) }
    func deadCount() throws -> Int { try count("XLEN", dead) }
    func isDone(_ id: String) throws -> Bool { !(try server.cli("ZSCORE", done, id)).isEmpty }

    /// The dead letters as field maps, oldest first (read as JSON through a Lua script, so
    /// values with newlines survive).
    func deadLetters() throws -> [[String: String]] {
        let text = try server.cli("EVAL", "return cjson.encode(redis.call('XRANGE', KEYS[1], '-', '+'))", "1", dead)
        guard text != "{}", let entries = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]] else {
            return []
        }
        return entries.map { entry in
            let fields = entry[1] as? [String] ?? []
            var map: [String: String] = [:]
            for index in stride(from: 0, to: fields.count - 1, by: 2) { map[fields[index]] = fields[index + 1] }
            return map
        }
    }

    /// The pending count of the group on the main stream.
    func pending() throws -> Int {
        let text = try server.cli("XPENDING", stream, group)
        return Int(text.split(separator: "\n").first ?? "") ?? -1
    }
}
