// A worker process for Spool's own tests: runs one subscription whose handler appends
// "job-id attempt deliveries worker" to a log (O_APPEND, survives SIGKILL), then either
// sleeps, or kills its own process with SIGKILL (a job that crashes its worker).
//
// usage: spool-test-worker URL QUEUE GROUP NAME MODE LOG [SLEEP_MS]
//   MODE: record | crash | noop (records nothing: for spool-bench)
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import Spool
import SpoolRedis

let arguments = CommandLine.arguments
guard arguments.count >= 7 else {
    FileHandle.standardError.write(Data("usage: spool-test-worker URL QUEUE GROUP NAME MODE LOG [SLEEP_MS]\n".utf8))
    exit(64)
}
let (url, queueName, groupName, name, mode, logPath) = (arguments[1], arguments[2], arguments[3], arguments[4], arguments[5], arguments[6])
let sleepMilliseconds = arguments.count > 7 ? Int(arguments[7]) ?? 0 : 0

let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
guard log >= 0 else { exit(66) }

var logger = Logger(label: "spool.test-worker")
logger.logLevel = .error
let client = RedisClient(configuration: try RedisConfiguration(url: url))
var configuration = SpoolWorker.Configuration()
configuration.consumerName = name
configuration.fetchBlockTime = .milliseconds(200)
configuration.heartbeatInterval = .milliseconds(200)
configuration.heartbeatTTL = .seconds(1)
configuration.promoteInterval = .milliseconds(50)
configuration.visibilityTimeout = .seconds(60)
var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
worker.registerFallback(queue: try QueueName(queueName), group: try GroupName(groupName)) { envelope, context in
    if mode == "noop" { return }
    let line = "\(envelope.id) \(context.attempt) \(context.deliveryCount) \(name)\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(log, $0.baseAddress, $0.count - 1) }
    if mode == "crash" {
        kill(getpid(), SIGKILL)
    }
    if sleepMilliseconds > 0 {
        try await Task.sleep(for: .milliseconds(sleepMilliseconds))
    }
}
let group = ServiceGroup(
    configuration: .init(services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
)
try await group.run()
client.shutdown()
