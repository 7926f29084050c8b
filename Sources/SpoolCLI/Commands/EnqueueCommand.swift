import ArgumentParser
import Foundation
import Logging
import Spool
import SpoolRedis

#if canImport(Glibc)
import Glibc
#endif

/// `spool enqueue QUEUE`: pushes one job (or one per input line with `--lines`) and prints its id.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue a job and print its id (\"<id> (duplicate)\" when the dedup key was already used).",
        discussion: """
            The payload comes from --data (must be valid JSON), --file (sent as is) or standard input \
            (sent as is; `{}` when standard input is a terminal). With --lines each non-blank line of \
            the input, --data's included, is one job's payload, sent as is (no such line: nothing is \
            enqueued, and stderr says so).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The queue, e.g. order.placed (1-100 characters of A-Z a-z 0-9 . _ : -).")
    var queue: String

    @Option(parsing: .unconditional, help: "The job type name. Defaults to the queue name.")
    var type: String?

    @Option(parsing: .unconditional, help: "The payload as JSON text.")
    var data: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Read the payload from a file.", valueName: "path"))
    var file: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Run the job no earlier than this from now, e.g. 30s, 5m.", valueName: "duration"))
    var delay: DurationArgument?

    @Option(name: .customLong("key"), parsing: .unconditional, help: ArgumentHelp(
        "Dedup key: a second enqueue with the same key within 24 hours enqueues nothing.", valueName: "key"
    ))
    var dedupKey: String?

    @Option(parsing: .unconditional, help: "Attempts before the job is dead-lettered. Defaults to the worker's retry strategy.")
    var maxAttempts: Int?

    @Option(help: ArgumentHelp(
        "A W3C trace context to pass to the handler: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase.",
        valueName: "traceparent"
    ))
    var traceparent: String?

    @Option(help: ArgumentHelp(
        "The vendor part of that trace context (W3C tracestate, e.g. vendor=value,other=value); needs --traceparent.",
        valueName: "tracestate"
    ))
    var tracestate: String?

    @Flag(help: "Enqueue one job per non-empty line of the input, in batches of 1000; prints one id per line as each batch is stored.")
    var lines = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Largest payload accepted. Defaults to 524288 (512 KiB), the workers' default.", valueName: "bytes"))
    var maxPayloadBytes: Int = JobEnvelope.defaultMaxPayloadBytes

    func validate() throws {
        try OptionValue.refuseOptionName(type, for: "--type")
        try OptionValue.refuseOptionName(dedupKey, for: "--key")
        try OptionValue.refuseOptionName(file, for: "--file")
    }

    func run() async throws {
        let queueName = try QueueName(queue)
        if data != nil && file != nil { throw CLIError("pass either --data or --file, not both", exitCode: 64) }
        if let maxAttempts, maxAttempts < 1 { throw CLIError("--max-attempts must be at least 1 (got \(maxAttempts))", exitCode: 64) }
        if lines && dedupKey != nil { throw CLIError("--key cannot be combined with --lines (one key would cover every job)", exitCode: 64) }
        if dedupKey?.isEmpty == true {
            throw CLIError("--key must not be empty: give a dedup key (e.g. --key order-42), or leave --key out", exitCode: 64)
        }
        if type?.isEmpty == true { throw CLIError("--type must not be empty", exitCode: 64) }
        if let type, type.unicodeScalars.contains(where: TerminalText.isControl) {
            // an HTTP handler could never send it as a header, and it garbles logs and tables
            throw CLIError("--type \(String(reflecting: type)) holds control characters: a job type is a name, such as send_email", exitCode: 64)
        }
        if let traceparent, !JobEnvelope.isValidTraceparent(traceparent) {
            throw CLIError(
                "--traceparent is not W3C trace context (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase, "
                    + "neither id all zeros)",
                exitCode: 64
            )
        }
        if let tracestate {
            if traceparent == nil { throw CLIError("--tracestate needs --traceparent (a tracestate goes only with its traceparent)", exitCode: 64) }
            if !JobEnvelope.isValidTracestate(tracestate) {
                throw CLIError(
                    "--tracestate is not W3C trace context (1 to 32 key=value members separated by commas, keys unique, of "
                        + "lowercase letters, digits and _-*/@, values of printable ASCII without , or =)",
                    exitCode: 64
                )
            }
        }
        if !(1...JobEnvelope.maxPayloadBytesLimit).contains(maxPayloadBytes) {
            throw CLIError("--max-payload-bytes must be 1...\(JobEnvelope.maxPayloadBytesLimit) (Redis's largest string)", exitCode: 64)
        }
        let limit = maxPayloadBytes
        let input = try readInput(limit: lines ? Int.max / 2 : limit)
        // with --lines, each payload with its line number in the input (blank lines skipped)
        let numbered = lines ? splitLines(input) : [(line: 1, payload: input)]
        if numbered.isEmpty {
            // not an error (a filter upstream may find nothing), but said: stdout stays empty
            StandardError.writeLine("spool: nothing enqueued: the input has no non-blank line (with --lines, each is one job)")
            return
        }
        let payloads = numbered.map(\.payload)
        for entry in numbered {
            do {
                try JobEnvelope.checkPayloadSize(entry.payload.count, limit: limit)
            } catch {
                if !lines { throw error }
                throw CLIError("line \(entry.line): \(error.message) (nothing was enqueued)")
            }
        }

        let client = RedisClient(configuration: try connection.configuration())
        defer { client.shutdown() }
        let producer = SpoolProducer(
            client: client, configuration: SpoolProducer.Configuration(prefix: connection.keyPrefix, maxPayloadBytes: limit),
            logger: Logger(label: "spool.cli", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let options = PushOptions(delay: delay?.duration, maxAttempts: maxAttempts, dedupKey: dedupKey, traceparent: traceparent,
                                  tracestate: tracestate)
        let jobType = type ?? queue
        if lines {
            let envelopes = payloads.map {
                JobEnvelope(type: jobType, payload: $0, maxAttempts: maxAttempts, traceparent: traceparent, tracestate: tracestate)
            }
            // each batch's ids go out as soon as it is stored: when a later batch fails, what
            // is printed is what was enqueued, so a rerun can skip those lines
            for chunk in stride(from: 0, to: envelopes.count, by: 1000) {
                let end = min(chunk + 1000, envelopes.count)
                let batch = Array(envelopes[chunk..<end])
                let results = try await Self.push(
                    batch, with: producer, to: queueName, options: options, lines: numbered[chunk..<end].map(\.line),
                    storedBefore: chunk > 0 ? numbered[chunk - 1].line : nil
                )
                var output = ""
                for result in results { output += "\(result)\n" }
                StandardOutput.write(output.utf8)
            }
        } else {
            let result = try await producer.push(payload: payloads[0], type: jobType, to: queueName, options: options)
            print(result)
        }
    }

    /// Pushes one batch of `--lines`: the input's lines `lines` (their numbers, blank lines
    /// skipped), after the batches that stored every job up to line `storedBefore`. A failure
    /// says which lines are stored: the batches before it, and of this batch (not atomic) those
    /// Redis reported stored, whose ids it prints first; after a timeout or a lost connection,
    /// which of this batch's lines were stored is unknown (the producer's error says which).
    private static func push(
        _ batch: [JobEnvelope], with producer: SpoolProducer, to queue: QueueName, options: PushOptions, lines: [Int],
        storedBefore: Int?
    ) async throws -> [PushResult] {
        do {
            return try await producer.push(batch, to: queue, options: options)
        } catch {
            let before = storedBefore.map { "lines 1-\($0) were enqueued, their ids printed; " } ?? ""
            let span = "\(lines[0])-\(lines[lines.count - 1])"
            guard let partial = error.underlying as? PartialPush else {
                // what became of this batch the error says: nothing pushed (the queue's
                // registration or a check failed), or unknown (a timeout, a lost connection)
                throw CLIError("\(error) (\(before)the push that failed was of lines \(span))")
            }
            var output = ""
            for result in partial.results { if let result { output += "\(result)\n" } }
            StandardOutput.write(output.utf8)
            let failed = partial.errors.keys.sorted().map { lines[$0] }
            let reason = partial.errors.min { $0.key < $1.key }.map { $0.value.message } ?? "?"
            throw CLIError(
                "\(before)of lines \(span), \(Formatting.counted(partial.storedCount, "was", plural: "were")) enqueued (ids printed) and "
                    + "\(Formatting.counted(failed.count, "was", plural: "were")) not: lines \(PartialPush.ranges(failed)), the first because \(reason). Push those lines again"
            )
        }
    }

    /// The payload bytes from --data, --file or stdin, reading at most `limit + 1` bytes so an
    /// oversize input is reported without reading it all.
    private func readInput(limit: Int) throws -> [UInt8] {
        if let data {
            let bytes = Array(data.utf8)
            if !lines {
                guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil else {
                    throw CLIError("--data is not valid JSON (quote strings, e.g. --data '{\"id\": 42}')")
                }
            }
            return bytes
        }
        let fd: Int32
        if let file {
            fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIError("cannot read \(file): \(String(cString: strerror(errno)))") }
        } else {
            if isatty(0) == 1 { return Array("{}".utf8) }
            fd = 0
        }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= limit {
            let count = read(fd, &buffer, buffer.count)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot read \(file ?? "standard input"): \(String(cString: strerror(errno)))")
            }
            bytes += buffer[0..<count]
        }
        if bytes.count > limit {
            throw CLIError("payload of more than \(limit) bytes exceeds the limit of \(limit) bytes: "
                + "keep jobs small (ids and minimal context) or raise --max-payload-bytes")
        }
        return bytes
    }

    /// The input's non-blank lines (a CR before the LF dropped), each with its line number.
    private func splitLines(_ input: [UInt8]) -> [(line: Int, payload: [UInt8])] {
        input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated().map { index, line in
            (index + 1, Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]))
        }.filter { !$0.payload.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } }
    }
}
