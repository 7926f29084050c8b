import Foundation
import Spool
import Yams

/// Reads `spool worker --config spool.yml` (keys documented in docs/worker.md).
///
/// Unknown keys are errors, so a typo never silently falls back to a default.
enum WorkerConfigFile {
    static let topKeys: Set<String> = [
        "visibility_timeout", "grace_period", "heartbeat_ttl", "allow_private_network", "defaults", "subscriptions",
        "metrics_port", "metrics_host", "max_lag", "max_payload_bytes", "dedicated_thread", "busy_poll_us",
    ]
    static let tuningKeys: Set<String> = [
        "concurrency", "max_attempts", "backoff_base", "backoff_max", "handler_timeout", "start_from", "prefetch",
    ]
    static let subscriptionKeys = tuningKeys.union(["queue", "group", "exec", "http"])

    /// The file's settings and its `defaults:` tuning.
    static func load(path: String) throws -> (settings: WorkerSettings, defaults: SubscriptionTuning) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CLIError("cannot read config file \(path): \(error.localizedDescription)")
        }
        return try parse(text, name: path)
    }

    static func parse(_ text: String, name: String) throws -> (settings: WorkerSettings, defaults: SubscriptionTuning) {
        let root: Any?
        do {
            // `.basic`: every plain scalar stays the text it was written as. YAML's default
            // resolver turned exec arguments such as `010`, `0x1F` or `12:30` into other numbers
            // (8, 31, 750) and refused `0.5` or `true`; numbers and flags are parsed below,
            // each where a setting expects one.
            root = try Yams.load(yaml: text, .basic)
        } catch {
            throw CLIError("\(name): invalid YAML: \(yamlReason(error))")
        }
        let top = try mapping(root, "\(name)")
        try checkKeys(top, allowed: topKeys, in: name)
        var settings = WorkerSettings()
        if let value = top["visibility_timeout"] { settings.visibilityTimeout = try duration(value, "\(name): visibility_timeout") }
        if let value = top["grace_period"] { settings.gracePeriod = try duration(value, "\(name): grace_period") }
        if let value = top["heartbeat_ttl"] { settings.heartbeatTTL = try duration(value, "\(name): heartbeat_ttl") }
        if let value = top["allow_private_network"] { settings.allowPrivateNetwork = try bool(value, "\(name): allow_private_network") }
        if let value = top["metrics_port"] { settings.metricsPort = try int(value, "\(name): metrics_port") }
        if let value = top["metrics_host"] { settings.metricsHost = try string(value, "\(name): metrics_host") }
        if let value = top["max_lag"] { settings.maxLag = try duration(value, "\(name): max_lag") }
        if let value = top["max_payload_bytes"] { settings.maxPayloadBytes = try int(value, "\(name): max_payload_bytes") }
        if let value = top["dedicated_thread"] { settings.dedicatedThread = try bool(value, "\(name): dedicated_thread") }
        if let value = top["busy_poll_us"] { settings.busyPollMicroseconds = try int(value, "\(name): busy_poll_us") }
        var defaults = SubscriptionTuning()
        if let value = top["defaults"] {
            let map = try mapping(value, "\(name): defaults")
            try checkKeys(map, allowed: tuningKeys, in: "\(name): defaults")
            defaults = try tuning(map, "\(name): defaults")
        }
        guard let list = top["subscriptions"] as? [Any], !list.isEmpty else {
            throw CLIError("\(name): subscriptions must be a non-empty list of {queue, group, exec | http}")
        }
        for (index, item) in list.enumerated() {
            let where_ = "\(name): subscriptions[\(index)]"
            let map = try mapping(item, where_)
            try checkKeys(map, allowed: subscriptionKeys, in: where_)
            guard let queueValue = map["queue"] else { throw CLIError("\(where_): queue is required") }
            let queueText = try string(queueValue, "\(where_): queue")
            let queue = try QueueName(queueText)
            let group = try (map["group"]).map { try GroupName(try string($0, "\(where_): group")) } ?? .default
            let handler: HandlerSpec
            switch (map["exec"], map["http"]) {
            case (let exec?, nil):
                if let argv = exec as? [Any] {
                    handler = .exec(try argv.map { try string($0, "\(where_): exec") })
                } else {
                    handler = .exec([try string(exec, "\(where_): exec")])
                }
            case (nil, let http?):
                handler = .http(try string(http, "\(where_): http"))
            default:
                throw CLIError("\(where_): give exactly one of exec (a list: program and arguments) or http (a URL)")
            }
            settings.subscriptions.append(SubscriptionSpec(
                queue: queue, group: group, handler: handler, tuning: try tuning(map, where_)
            ))
        }
        return (settings, defaults)
    }

    /// What Yams found wrong, on one line with its place: `line 3, column 1: did not find expected
    /// key (while parsing a block mapping at line 1, column 1)`. Yams's own text puts the
    /// problem after the context on a second line, then quotes the file's line (which may
    /// hold a secret), so its first line alone lacked the problem.
    static func yamlReason(_ error: any Error) -> String {
        switch error as? YamlError {
        case let .scanner(context, problem, mark, _)?, let .parser(context, problem, mark, _)?, let .composer(context, problem, mark, _)?:
            let place = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return "line \(mark.line), column \(mark.column): \(problem)\(place)"
        case let .duplicatedKeysInMapping(duplicates, context)?:
            // the context's text is the whole file: only its place is shown
            let keys = duplicates.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            return "line \(context.mark.line), column \(context.mark.column): \(duplicates.count == 1 ? "key" : "keys") \(keys) "
                + "given more than once in one mapping: keep one of each"
        default:
            // a reader error's first line has its place and problem; the next quotes the file
            return "\(error)".split(whereSeparator: \.isNewline).first.map(String.init) ?? "unreadable"
        }
    }

    private static func tuning(_ map: [String: Any], _ where_: String) throws -> SubscriptionTuning {
        var tuning = SubscriptionTuning()
        if let value = map["concurrency"] { tuning.concurrency = try int(value, "\(where_): concurrency") }
        if let value = map["max_attempts"] { tuning.maxAttempts = try int(value, "\(where_): max_attempts") }
        if let value = map["backoff_base"] { tuning.backoffBase = try duration(value, "\(where_): backoff_base") }
        if let value = map["backoff_max"] { tuning.backoffMax = try duration(value, "\(where_): backoff_max") }
        if let value = map["handler_timeout"] { tuning.handlerTimeout = try duration(value, "\(where_): handler_timeout") }
        if let value = map["prefetch"] { tuning.prefetch = try int(value, "\(where_): prefetch") }
        if let value = map["start_from"] {
            switch try string(value, "\(where_): start_from") {
            case "beginning": tuning.startFromBeginning = true
            case "new": tuning.startFromBeginning = false
            default: throw CLIError("\(where_): start_from must be beginning or new")
            }
        }
        try tuning.validate(where_)
        return tuning
    }

    private static func mapping(_ value: Any?, _ where_: String) throws -> [String: Any] {
        guard let map = value as? [String: Any] else { throw CLIError("\(where_): expected a mapping of keys to values") }
        return map
    }

    private static func checkKeys(_ map: [String: Any], allowed: Set<String>, in where_: String) throws {
        if let unknown = map.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw CLIError("\(where_): unknown key \"\(unknown)\" (known: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    private static func string(_ value: Any, _ where_: String) throws -> String {
        guard let text = value as? String else { throw CLIError("\(where_): expected a string") }
        return text
    }

    private static func int(_ value: Any, _ where_: String) throws -> Int {
        guard let text = value as? String, let number = Int(text) else { throw CLIError("\(where_): expected a whole number") }
        return number
    }

    private static func bool(_ value: Any, _ where_: String) throws -> Bool {
        switch value as? String {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: throw CLIError("\(where_): expected true or false")
        }
    }

    /// A duration written `250ms`, `5s`, `2m`, `1h`, or a number of seconds.
    private static func duration(_ value: Any, _ where_: String) throws -> Duration {
        if let text = value as? String, let parsed = DurationArgument(argument: text) { return parsed.duration }
        throw CLIError("\(where_): expected a duration such as 250ms, 30s, 5m or 1h (at most 100 years)")
    }
}
