// A worker process for Spool's own tests: runs one subscription whose handler appends
// "job-id attempt deliveries worker" to a log (O_APPEND, survives SIGKILL), then either
// sleeps, or kills its own process with SIGKILL (a job that crashes its worker).
//
// usage: spool-test-worker URL QUEUE GROUP NAME MODE LOG [SLEEP_MS] [KEY=VALUE ...]
//        spool-test-worker thread-limit URL   (see ThreadLimitCheck.swift)
//   MODE: record | crash | noop | faults | ack-first
//   noop: records nothing (for spool-bench); faults: the fault-suite handler (see
//   FaultsHandler.swift); ack-first: a deliberately broken worker that acknowledges before
//   running the handler (see AckFirstWorker.swift).
//   KEY=VALUE settings (all optional): effects=DIR, concurrency=N, visibility-ms=N,
//   heartbeat-ms=N, heartbeat-ttl-ms=N, grace-ms=N, cap=N, trim-ms=N, max-attempts=N,
//   crash-after=N (ack-first only), command-timeout-ms=N, connect-timeout-ms=N, reconnect-max-ms=N
// SPOOL_TEST_DEDICATED_THREAD=1 in the environment runs the worker on a thread of its own
// (SpoolWorker.Configuration.dedicatedThread); SPOOL_TEST_PREFETCH=N in faults mode reads N jobs
// ahead of the free slots (SpoolWorker.SubscriptionOptions.prefetch).
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import Spool
import SpoolRedis

let arguments = CommandLine.arguments
if arguments.count == 3 && arguments[1] == "thread-limit" {
    exit(await threadLimitCheck(url: arguments[2]))
}
guard arguments.count >= 7 else {
    FileHandle.standardError.write(Data("usage: spool-test-worker URL QUEUE GROUP NAME MODE LOG [SLEEP_MS] [KEY=VALUE ...]\n".utf8))
    exit(64)
}
let (url, queueName, groupName, name, mode, logPath) = (arguments[1], arguments[2], arguments[3], arguments[4], arguments[5], arguments[6])
let sleepMilliseconds = arguments.count > 7 ? Int(arguments[7]) ?? 0 : 0
let settings: [String: String] = Dictionary(
    arguments.dropFirst(8).compactMap { argument -> (String, String)? in
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    },
    uniquingKeysWith: { _, last in last }
)
func setting(_ key: String) -> Int? { settings[key].flatMap { Int($0) } }

let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
guard log >= 0 else { exit(66) }

/// Appends one line with a single write(2), so lines of concurrent writers never interleave.
@Sendable func appendLine(_ line: String) {
    _ = (line + "\n").utf8CString.withUnsafeBufferPointer { write(log, $0.baseAddress, $0.count - 1) }
}

var logger = Logger(label: "spool.test-worker")
logger.logLevel = .error
var redisConfiguration = try RedisConfiguration(url: url)
if let timeout = setting("command-timeout-ms") { redisConfiguration.commandTimeout = .milliseconds(timeout) }
if let timeout = setting("connect-timeout-ms") { redisConfiguration.connectTimeout = .milliseconds(timeout) }
if let delay = setting("reconnect-max-ms") { redisConfiguration.reconnectMaxDelay = .milliseconds(delay) }
let client = RedisClient(configuration: redisConfiguration)
let queue = try QueueName(queueName)
let group = try GroupName(groupName)

if mode == "ack-first" {
    try await runAckFirst(
        client: client, keys: QueueKeys(queue: queue), group: group, name: name, crashAfter: setting("crash-after") ?? 25, sleepMilliseconds: sleepMilliseconds,
        effects: settings["effects"] ?? (logPath + ".effects"), appendLine: appendLine
    )
    exit(0)
}

var configuration = SpoolWorker.Configuration()
configuration.consumerName = name
configuration.fetchBlockTime = .milliseconds(200)
configuration.heartbeatInterval = .milliseconds(setting("heartbeat-ms") ?? 200)
configuration.heartbeatTTL = .milliseconds(setting("heartbeat-ttl-ms") ?? 1_000)
configuration.promoteInterval = .milliseconds(50)
configuration.visibilityTimeout = .milliseconds(setting("visibility-ms") ?? 60_000)
if let grace = setting("grace-ms") { configuration.gracePeriod = .milliseconds(grace) }
if let trim = setting("trim-ms") { configuration.trimInterval = .milliseconds(trim) }
configuration.maxStreamLength = setting("cap")
// the fault suite can run its workers on a thread of their own (docs/reliability.md)
configuration.dedicatedThread = ProcessInfo.processInfo.environment["SPOOL_TEST_DEDICATED_THREAD"] == "1"
var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
if mode == "faults" {
    let handler = FaultsHandler(worker: name, effectsDirectory: settings["effects"] ?? (logPath + ".effects"), append: appendLine)
    worker.subscribe(queue: queue, group: group, options: .init(
        concurrency: setting("concurrency") ?? 16,
        retry: .exponentialJitter(maxAttempts: setting("max-attempts") ?? 3, baseDelay: .milliseconds(20), maxBackoff: .milliseconds(100)),
        // the fault suite can run its workers with a prefetch (docs/reliability.md)
        prefetch: testPrefetch()
    ))
    worker.registerFallback(queue: queue, group: group) { envelope, context in
        try await handler.handle(envelope, context)
    }
} else {
    worker.registerFallback(queue: queue, group: group) { envelope, context in
        if mode == "noop" { return }
        appendLine("\(envelope.id) \(context.attempt) \(context.deliveryCount) \(name)")
        if mode == "crash" {
            kill(getpid(), SIGKILL)
        }
        if sleepMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(sleepMilliseconds))
        }
    }
}
/// SPOOL_TEST_PREFETCH, or 0; anything but a number stops the process, so that a fault run
/// never passes without the prefetch it asked for.
func testPrefetch() -> Int {
    guard let text = ProcessInfo.processInfo.environment["SPOOL_TEST_PREFETCH"] else { return 0 }
    guard let value = Int(text) else {
        FileHandle.standardError.write(Data("SPOOL_TEST_PREFETCH must be a number, not \(text)\n".utf8))
        exit(64)
    }
    return value
}

let services = ServiceGroup(
    configuration: .init(services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
)
try await services.run()
client.shutdown()
