import Spool

/// The job the throughput measurements push: `{"n":123}`.
struct Tick: JobParameters {
    static let jobName = "tick"
    let n: Int
}
