/// What a batch push stored when some of its jobs failed.
///
/// A batch is not a transaction: each job's command succeeds or fails on its own (out of
/// memory part way, a dedup marker another client set). The push then throws a
/// ``SpoolError`` (code `redis`) whose ``SpoolError/underlying`` is this value, so that the
/// jobs that were stored are known and not pushed again:
///
/// ```swift
/// } catch let error {
///     if let partial = error.underlying as? PartialPush { retry(jobs.indices.filter { partial.results[$0] == nil }) }
/// }
/// ```
public struct PartialPush: Error, Sendable, CustomStringConvertible {
    /// One per job, in the batch's order: its result when it was stored (or found a
    /// duplicate), `nil` when it failed.
    public var results: [PushResult?]
    /// Why each failed job failed, by its index in the batch.
    public var errors: [Int: SpoolError]

    /// Creates the outcome of a batch push.
    public init(results: [PushResult?], errors: [Int: SpoolError]) {
        self.results = results
        self.errors = errors
    }

    /// How many jobs were stored (or found duplicates).
    public var storedCount: Int { results.count - errors.count }

    public var description: String {
        "\(storedCount) of \(results.count) jobs stored; \(errors.count) failed: jobs \(Self.ranges(errors.keys.sorted()))"
    }

    /// The push error that carries this value.
    func error(queue: QueueName) -> SpoolError {
        let first = errors.min { $0.key < $1.key }.map { "\($0.value.message)" } ?? "?"
        return SpoolError(
            code: .redis,
            message: "push to queue \(queue) stored \(storedCount) of \(results.count) jobs; \(errors.count) failed (jobs "
                + "\(Self.ranges(errors.keys.sorted())), counted from 0; the first failure: \(first)). Push only the failed ones "
                + "again: PartialPush.results (the error's underlying value) says which were stored",
            underlying: self
        )
    }

    /// `3-5, 9, 12-40`: sorted numbers as ranges, the first ten ranges and how many more.
    public static func ranges(_ indices: [Int]) -> String {
        var parts: [String] = []
        var index = 0
        while index < indices.count {
            var end = index
            while end + 1 < indices.count && indices[end + 1] == indices[end] + 1 { end += 1 }
            parts.append(end == index ? "\(indices[index])" : "\(indices[index])-\(indices[end])")
            index = end + 1
        }
        return parts.count <= 10 ? parts.joined(separator: ", ") : parts.prefix(10).joined(separator: ", ") + " and \(parts.count - 10) more"
    }
}
