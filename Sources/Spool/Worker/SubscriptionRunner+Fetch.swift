import CoreMetrics
import Logging
import Metrics
import SpoolRedis

extension SubscriptionRunner {
    /// The fetch loop: take free slots, reclaim lost jobs, read retries and new jobs, start
    /// a handler per job. On shutdown, waits for running handlers within the grace period.
    func fetchAndRun() async {
        await withDiscardingTaskGroup { handlers in
            do {
                try await client.withDedicatedConnection { connection in
                    var lastReclaim = ContinuousClock.now - configuration.heartbeatInterval
                    var lastRetryRead = ContinuousClock.now - .seconds(1)
                    var failures = 0
                    while !state.isStopping {
                        let slots = await state.slots.acquire(max: options.concurrency)
                        if slots == 0 { break }
                        var entries: [StreamEntry] = []
                        do {
                            let now = ContinuousClock.now
                            if now - lastReclaim >= configuration.heartbeatInterval {
                                lastReclaim = now
                                entries += try await reclaim(limit: slots)
                            }
                            if entries.count < slots, now - lastRetryRead >= configuration.promoteInterval {
                                lastRetryRead = now
                                entries += try await read(count: slots - entries.count, source: .retry, on: nil)
                            }
                            if entries.count < slots, !state.isStopping {
                                entries += try await read(count: slots - entries.count, source: .main, on: connection)
                            }
                            failures = 0
                        } catch {
                            failures += 1
                            await handleFetchError(error, failures: failures)
                        }
                        if entries.count < slots { state.slots.release(slots - entries.count) }
                        if entries.isEmpty { continue }
                        let duplicates = await completedJobs(entries)
                        for entry in entries {
                            let duplicate = duplicates.contains(entry.id)
                            handlers.addTask { await process(entry, isDuplicate: duplicate) }
                        }
                    }
                }
            } catch {
                logger.info("fetch loop ended", metadata: ["error": "\(error)"])
            }
            state.beginStop()
            if state.runningCount > 0 {
                let drained = await state.drained.wait(timeout: configuration.gracePeriod)
                if !drained {
                    logger.info("grace period over; unfinished jobs stay pending for other workers",
                                metadata: ["spool.running": "\(state.runningCount)"])
                    handlers.cancelAll()
                }
            }
        }
    }

    /// XREADGROUP of up to `count` entries; blocking on the main stream, not on retries.
    private func read(count: Int, source: StreamEntry.Source, on connection: RedisConnection?) async throws -> [StreamEntry] {
        var command = RedisCommand("XREADGROUP", "GROUP", group.rawValue, consumer, "COUNT", String(count))
        let reply: RESPValue
        if let connection {
            let block = configuration.fetchBlockTime
            command.append("BLOCK")
            command.append(block.milliseconds)
            command.append("STREAMS")
            command.append(keys.stream)
            command.append(">")
            reply = try await connection.send(command, timeout: block + client.configuration.commandTimeout)
        } else {
            command.append("STREAMS")
            command.append(retryStream)
            command.append(">")
            reply = try await client.send(command)
        }
        return StreamEntry.parseRead(reply, source: source)
    }

    /// Claims jobs of workers whose heartbeat lapsed, and (backstop) jobs whose lease was not
    /// extended within the visibility timeout.
    private func reclaim(limit: Int) async throws -> [StreamEntry] {
        var claimed: [StreamEntry] = []
        for (stream, source) in [(keys.stream, StreamEntry.Source.main), (retryStream, .retry)] {
            let reply = try await client.send(RedisCommand("XINFO", "CONSUMERS", stream, group.rawValue))
            // Other consumers with jobs pending, or silent for longer than a heartbeat lives.
            var candidates: [String] = []
            for consumerInfo in reply.array ?? [] {
                let info = Dictionary(pairs: consumerInfo)
                guard let name = info["name"]?.string, name != consumer else { continue }
                if (info["pending"]?.int ?? 0) > 0 || (info["idle"]?.int ?? 0) > Int(configuration.heartbeatTTL.milliseconds) {
                    candidates.append(name)
                }
            }
            if !candidates.isEmpty {
                let alive = try await client.pipeline(candidates.map {
                    RedisCommand("EXISTS", keys.heartbeat(group, consumer: $0))
                })
                // The script re-checks the heartbeat, claims, and deletes the consumer only
                // once nothing is pending for it, all atomically.
                for (index, name) in candidates.enumerated() where alive[index].int == 0 && claimed.count < limit {
                    let reply = try await client.evaluate(
                        SpoolScripts.reclaim, keys: [stream, keys.heartbeat(group, consumer: name)],
                        arguments: [group.rawValue, consumer, "0", String(limit - claimed.count), name]
                    )
                    let entries = StreamEntry.parseReclaimed(reply, source: source)
                    metrics.reclaimed.increment(by: entries.count)
                    if !entries.isEmpty {
                        logger.info("reclaimed jobs of a worker whose heartbeat lapsed",
                                    metadata: ["spool.dead_worker": "\(name)", "spool.count": "\(entries.count)"])
                    }
                    claimed += entries
                }
            }
            if claimed.count < limit {
                let reply = try await client.evaluate(
                    SpoolScripts.reclaim, keys: [stream, stream],
                    arguments: [group.rawValue, consumer, String(configuration.visibilityTimeout.milliseconds),
                                String(limit - claimed.count), ""]
                )
                let entries = StreamEntry.parseReclaimed(reply, source: source)
                metrics.reclaimed.increment(by: entries.count)
                if !entries.isEmpty {
                    logger.info("reclaimed jobs past the visibility timeout", metadata: ["spool.count": "\(entries.count)"])
                }
                claimed += entries
            }
        }
        return claimed
    }

    /// The entry ids (of `entries`) whose job this group already completed.
    private func completedJobs(_ entries: [StreamEntry]) async -> Set<String> {
        guard options.dedup else { return [] }
        var command = RedisCommand(name: "ZMSCORE", reservingBytes: 40 * entries.count + done.utf8.count, arguments: entries.count + 1)
        command.append(done)
        var asked: [String] = []
        for entry in entries {
            guard let fields = entry.fields, let jobID = Self.field("id", in: fields) else { continue }
            command.append(jobID)
            asked.append(entry.id)
        }
        guard !asked.isEmpty, let scores = try? await client.send(command).array else { return [] }
        var duplicates = Set<String>()
        for (index, score) in scores.enumerated() where !score.isNull && index < asked.count {
            duplicates.insert(asked[index])
        }
        return duplicates
    }

    private func handleFetchError(_ error: any Error, failures: Int) async {
        if let error = error as? RedisError, error.message.hasPrefix("NOGROUP") {
            await recreateMissingGroup()
            return
        }
        logger.info("fetching jobs failed; retrying", metadata: ["error": "\(error)", "spool.failures": "\(failures)"])
        let delay = min(Duration.milliseconds(50) * (1 << min(failures, 6)), .seconds(2))
        try? await Task.sleep(for: delay)
    }

    /// The value of field `name` in a flat field list, as text.
    static func field(_ name: String, in fields: [[UInt8]]) -> String? {
        var index = 0
        while index + 1 < fields.count {
            if fields[index].elementsEqual(name.utf8) { return String(decoding: fields[index + 1], as: UTF8.self) }
            index += 2
        }
        return nil
    }
}

extension Dictionary where Key == String, Value == RESPValue {
    /// A map from a flat `[name, value, name, value...]` reply (XINFO, CONFIG GET).
    init(pairs reply: RESPValue) {
        self.init()
        guard let items = reply.array else { return }
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].string { self[name] = items[index + 1] }
            index += 2
        }
    }
}
