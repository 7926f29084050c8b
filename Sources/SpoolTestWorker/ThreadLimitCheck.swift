// `spool-test-worker thread-limit URL`: what Spool does in a process that can start no more
// threads (a container at its pids limit, a user at `ulimit -u`). For Spool's own tests
// (`ThreadLimitTests`), which check what it prints.
//
// The limit is RLIMIT_NPROC at 1, which counts every thread of the process's real user. Root
// is exempt from it, so a process started as root first becomes the user `nobody` (65534).
// Swift's task pool cannot start a thread under the limit either, and waits until it can (its
// idle threads end after some seconds): so the limit holds only for the moment a step makes
// its thread, right after the pool's threads were put to work, and is lifted at once.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Spool
import SpoolRedis

func threadLimitCheck(url: String) async -> Int32 {
    @Sendable func say(_ line: String) {
        _ = (line + "\n").utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
    }
    // twice as many blocking tasks as cores: every thread of the task pool is started and awake
    func wakeThePool() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(16, 2 * ProcessInfo.processInfo.activeProcessorCount) { group.addTask { usleep(2_000) } }
        }
    }
    await wakeThePool()
    if geteuid() == 0 {
        guard setgroups(0, nil) == 0, setgid(65534) == 0, setuid(65534) == 0 else {
            say("setup failed: cannot become the user nobody (\(String(cString: strerror(errno))))")
            return 2
        }
    }
    var found = rlimit()
    getrlimit(__rlimit_resource_t(__RLIMIT_NPROC.rawValue), &found)
    let unlimited = found
    @Sendable func limitThreads(_ on: Bool) -> Bool {
        var limit = unlimited
        if on { limit.rlim_cur = 1 }
        return setrlimit(__rlimit_resource_t(__RLIMIT_NPROC.rawValue), &limit) == 0
    }
    let configuration: RedisConfiguration
    do {
        configuration = try RedisConfiguration(url: url)
    } catch {
        say("setup failed: \(error)")
        return 2
    }

    // 1. A client made while no thread can start: its command fails at once, saying why.
    await wakeThePool()
    guard limitThreads(true) else {
        say("setup failed: setrlimit")
        return 2
    }
    let client = RedisClient(configuration: configuration)
    let refused: String
    do {
        let reply = try await client.send("PING")
        refused = "step 1: PING answered with no thread to send it: \(reply)"
    } catch {
        refused = "step 1: \(error)"
    }
    _ = limitThreads(false)
    say(refused)
    if !refused.contains("no thread could be started") { return 1 }

    // 2. Once threads can start again, the same client works.
    do {
        let reply = try await client.send("PING")
        say("step 2: \(reply.string ?? "\(reply)")")
    } catch {
        say("step 2: \(error)")
        return 1
    }

    // 3. A worker configured for a thread of its own, started while none can be made, runs on
    //    the shared pool: the limit is lifted as soon as the worker has said so.
    do {
        let queue = try QueueName("thread-limit")
        _ = try await SpoolProducer(client: client, logger: Logger(label: "thread-limit")).push(payload: Array("{}".utf8), type: "check", to: queue)
        var workerConfiguration = SpoolWorker.Configuration()
        workerConfiguration.dedicatedThread = true
        var worker = SpoolWorker(client: client, configuration: workerConfiguration, logger: Logger(label: "thread-limit") { _ in
            LineHandler(say: say, whenWarned: { _ = limitThreads(false) })
        })
        let ran = AsyncStream<Void>.makeStream()
        worker.registerFallback(queue: queue) { _, _ in
            ran.continuation.yield()
        }
        await wakeThePool()
        guard limitThreads(true) else {
            say("setup failed: setrlimit")
            return 2
        }
        let running = Task { [worker] in try await worker.run() }
        for await _ in ran.stream { break }
        _ = limitThreads(false)   // (lifted already, unless the worker never warned)
        say("step 3: the job ran")
        running.cancel()
        try await running.value
    } catch {
        _ = limitThreads(false)
        say("step 3: \(error)")
        return 1
    }

    // 4. A producer asked for a thread of its own while none can be made pushes from the
    //    shared pool: the limit is lifted as soon as it has said so.
    do {
        let queue = try QueueName("thread-limit")
        let logger = Logger(label: "thread-limit") { _ in LineHandler(say: say, whenWarned: { _ = limitThreads(false) }) }
        await wakeThePool()
        guard limitThreads(true) else {
            say("setup failed: setrlimit")
            return 2
        }
        let pushed = try await SpoolProducer.withDedicatedThread(client: client, logger: logger) { producer in
            _ = limitThreads(false)   // (lifted already, unless the producer never warned)
            return try await producer.push(payload: Array("{}".utf8), type: "check", to: queue)
        }
        say("step 4: pushed \(pushed.isDuplicate ? "a duplicate" : "the job")")
    } catch {
        _ = limitThreads(false)
        say("step 4: \(error)")
        return 1
    }
    client.shutdown()
    return 0
}

/// Prints the worker's warnings and errors, one line each.
private struct LineHandler: LogHandler {
    let say: @Sendable (String) -> Void
    /// Runs, on the logging thread, before a warning or worse is printed.
    let whenWarned: @Sendable () -> Void
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .warning

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        whenWarned()
        say("log \(event.level): \(event.message)")
    }
}
