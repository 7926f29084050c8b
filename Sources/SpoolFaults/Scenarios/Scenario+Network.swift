import Foundation
import SpoolRedis

extension Scenario {
    /// The partition scenarios' worker settings: the producer's timeouts (command 2 s,
    /// connect 1 s, reconnect delay at most 500 ms).
    static let partitionWorkerSettings = ["command-timeout-ms": "2000", "connect-timeout-ms": "1000", "reconnect-max-ms": "500"]

    /// A worker and the producer cut off from Redis (packets dropped, connections hang) for
    /// `seconds` (the short form: at most 10 s, still 5× the command timeout), while two
    /// workers on another link keep running. No enqueue or blocking read may outlast twice its
    /// timeout + 1 s; after the link returns, the producer's first acked enqueue and the cut
    /// worker's first effect come within 5 s.
    static func partition(seconds: Int) -> Scenario {
        Scenario(
            name: "partition-\(seconds)s",
            summary: "a worker and the producer cut off from Redis (nftables drop) for \(seconds) s: calls end within 2x their timeout + 1 s, both work again within 5 s of the link returning",
            network: .partitionable,
            workers: 2,
            workerSettings: partitionWorkerSettings
        ) { run, parameters in
            let cut = Duration.seconds(parameters.full ? seconds : min(seconds, 10))
            guard let cuttable = run.links.cuttable else { throw FaultsError("no cuttable link") }
            let victim = try run.startWorker(url: cuttable)
            run.note("cut-worker \(victim.name)")
            let probe = try BlockingReadProbe(url: cuttable)
            defer { probe.shutdown() }
            try await probe.prepare()
            // keep producing for at least 8 s after the link returns, so the cut worker has work
            let rate = min(parameters.rate, Double(parameters.jobs) / (2 + cut / .seconds(1) + 8))
            try await concurrently(run, parameters, rate: rate) { _ in
                try await Task.sleep(for: .seconds(1))
                // the probe reads from 1 s before the cut to 1 s after it, so one read is
                // blocked on an established connection when the packets start to drop
                let probing = Task { await probe.run(until: .now + cut + .seconds(2)) }
                try await Task.sleep(for: .seconds(1))
                try await run.fault("partition") {
                    try run.cutLink()
                    try? await Task.sleep(for: cut)
                    try run.restoreLink()
                }
                await probing.value
            }
            var outcome = Outcome()
            let history = run.history()
            guard let end = history.faults.first(where: { $0.name == "partition" })?.end else {
                throw FaultsError("the partition did not end")
            }
            let slowestEnqueue = history.enqueues.values.map(\.latency).max() ?? 0
            let firstAck = history.enqueues.values.filter { $0.outcome == .ok }.map { $0.sentAt + $0.latency }.filter { $0 > end }.min()
            let victimBack = history.effectsByWorker[victim.name, default: []].filter { $0 > end }.min()
            let readBound = (probe.block + probe.timeout) * 2 + .seconds(1)
            outcome.notes.append(
                "cut \(cut); slowest enqueue \(slowestEnqueue) ms (bound 5000); \(probe.summary) (bound \(Int(readBound / .milliseconds(1))) ms); "
                    + "after the link returned: first ack +\(firstAck.map { "\($0 - end) ms" } ?? "none"), "
                    + "cut worker's first effect +\(victimBack.map { "\($0 - end) ms" } ?? "none")"
            )
            outcome.checks["enqueue-within-2x-timeout"] = slowestEnqueue <= 5_000
            outcome.checks["read-within-2x-timeout"] = probe.calls > 0 && probe.slowest <= readBound
            outcome.checks["producer-back<=5s"] = firstAck.map { $0 - end <= 5_000 } ?? false
            outcome.checks["cut-worker-back<=5s"] = victimBack.map { $0 - end <= 5_000 } ?? false
            outcome.checks["cut-worker-alive"] = victim.isRunning
            return outcome
        }
    }

    /// Every client (workers, producer) talks to Redis through a proxy adding 50–200 ms each
    /// way: everything stays correct. The full form caps itself at 3,000 jobs at 150/s.
    static let slowLink = Scenario(
        name: "slow-link",
        summary: "every client behind a TCP proxy adding 50-200 ms each way: no loss, no duplicate effect, enqueues take at least the added round trip",
        network: .delayed(.milliseconds(50) ... .milliseconds(200)),
        workerSettings: ["concurrency": "32"],
        drainLimit: .seconds(60)
    ) { run, parameters in
        var sized = parameters
        sized.jobs = min(parameters.jobs, parameters.full ? 3_000 : 400)
        // each enqueue waits a round trip of 100-400 ms: 32 callers reach about 100/s
        try await concurrently(run, sized, rate: min(parameters.rate, 150), producers: 32) { _ in }
        var outcome = Outcome()
        let latencies = run.history().enqueues.values.filter { $0.outcome == .ok }.map(\.latency)
        let fastest = latencies.min() ?? 0
        outcome.notes.append("enqueue latency \(fastest)...\(latencies.max() ?? 0) ms (added round trip 100-400 ms)")
        // every acked enqueue crossed the proxy twice: at least 2 × 50 ms
        outcome.checks["link-delayed"] = !latencies.isEmpty && fastest >= 100
        return outcome
    }
}
