import ArgumentParser
import CMallocCounter
import Foundation
import Spool
import SpoolRedis

/// `spool-bench micro`: nanoseconds and heap allocations per operation of the hot paths.
///
/// Allocations are counted by the malloc wrappers of the CMallocCounter target, which this
/// executable links in place of glibc's entry points (no LD_PRELOAD): each bumps a
/// thread-local counter and calls `__libc_malloc` and friends. Every operation runs
/// synchronously on one thread, so the counter's delta over a loop, divided by the
/// iterations, is the allocations per operation.
struct MicroBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "micro",
        abstract: "ns and heap allocations per op: envelope encode/decode, RESP encoding, JSON payloads, job ids."
    )

    @Option(help: "Iterations per round (three rounds; the median is reported).")
    var iterations = 200_000

    func run() throws {
        let envelope = JobEnvelope.sample
        let fields = envelope.encodedFields
        let keys = QueueKeys(queue: try QueueName("bench.micro"))
        let xadd = Self.xadd(envelope, stream: keys.stream)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1024)

        print("micro-benchmarks, \(iterations) iterations × 3 rounds, median (envelope: 9-byte JSON payload, no headers)")
        print("  " + "operation".padding(toLength: 52, withPad: " ", startingAt: 0) + "      ns/op   allocs/op")
        measure("JobEnvelope.encodeFields into an XADD RedisCommand") {
            Self.xadd(envelope, stream: keys.stream).count
        }
        measure("JobEnvelope.encodedFields ([[UInt8]])") { envelope.encodedFields.count }
        measure("JobEnvelope.decode(fields:)") { (try? JobEnvelope.decode(fields: fields))?.attempt ?? 0 }
        measure("RedisCommand.encodeRESP (XADD, reused buffer)") {
            buffer.removeAll(keepingCapacity: true)
            xadd.encodeRESP(into: &buffer)
            return buffer.count
        }
        measure("JobEnvelope.make(Tick) (new JobID)") {
            (try? JobEnvelope.make(Tick(n: 42)))?.payload.count ?? 0
        }
        measure("JobEnvelope.decodePayload(as: Tick)") {
            (try? envelope.decodePayload(as: Tick.self))?.n ?? 0
        }
        let order = Order.sample
        let orderEnvelope = try JobEnvelope.make(order)
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        measure("JobEnvelope.make(Order) (\(orderEnvelope.payload.count) B, new JobID)") {
            (try? JobEnvelope.make(order))?.payload.count ?? 0
        }
        measure("  for comparison: JSONEncoder().encode(Order)") { (try? encoder.encode(order))?.count ?? 0 }
        measure("JobEnvelope.decodePayload(as: Order)") {
            (try? orderEnvelope.decodePayload(as: Order.self))?.lines.count ?? 0
        }
        measure("  for comparison: JSONDecoder().decode(Order)") {
            (try? decoder.decode(Order.self, from: Data(orderEnvelope.payload)))?.lines.count ?? 0
        }
        measure("JobID() + description") { JobID().description.utf8.count }
    }

    static func xadd(_ envelope: JobEnvelope, stream: String) -> RedisCommand {
        // as SpoolProducer builds it
        var command = RedisCommand(name: "XADD", reservingBytes: envelope.payload.count + 160, arguments: 16)
        command.append(stream)
        command.append("*")
        envelope.encodeFields(into: &command)
        return command
    }

    private func measure(_ name: String, _ body: () -> Int) {
        var sink = 0
        for _ in 0..<min(iterations, 10_000) { sink &+= body() }
        var rounds: [(nanos: Double, allocations: Double)] = []
        let clock = ContinuousClock()
        for _ in 0..<3 {
            let allocationsBefore = spool_bench_thread_allocations()
            let start = clock.now
            for _ in 0..<iterations { sink &+= body() }
            let elapsed = clock.now - start
            let allocations = spool_bench_thread_allocations() - allocationsBefore
            rounds.append((elapsed.seconds * 1e9 / Double(iterations), Double(allocations) / Double(iterations)))
        }
        let median = rounds.sorted { $0.nanos < $1.nanos }[1]
        blackHole(sink)
        print("  " + name.padding(toLength: 52, withPad: " ", startingAt: 0)
              + String(format: " %10.1f %11.2f", median.nanos, median.allocations))
    }
}

@inline(never)
func blackHole(_ value: Int) {
    if value == 0x5eed_5eed { print("") }
}

/// A larger payload: eight fields of strings, integers, a flag, an optional and a nested array.
struct Order: JobParameters {
    static let jobName = "order"
    struct Line: Codable {
        let sku: String
        let quantity: Int
    }
    let id: Int64
    let customer: String
    let email: String
    let total: Double
    let express: Bool
    let note: String?
    let tags: [String]
    let lines: [Line]

    static let sample = Order(
        id: 9_007_199_254, customer: "Ada Lovelace", email: "ada@example.com", total: 129.95, express: true,
        note: nil, tags: ["gift", "priority"],
        lines: [Line(sku: "A-100", quantity: 2), Line(sku: "B-7", quantity: 1), Line(sku: "C-42", quantity: 12)]
    )
}

extension JobEnvelope {
    /// A typical small job: `{"n":42}` of type `tick`.
    static var sample: JobEnvelope {
        JobEnvelope(type: Tick.jobName, payload: Array(#"{"n":42}"#.utf8))
    }
}
