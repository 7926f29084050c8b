import Foundation
import Prometheus

/// How Spool's swift-metrics labels appear in Prometheus (listed in docs/operations.md).
///
/// Dots become underscores; counters get the conventional `_total` suffix and timers (which
/// swift-prometheus exports as histograms in seconds) `_seconds`. Other labels keep their
/// name with dots replaced.
enum PrometheusNames {
    static let renamed: [String: String] = [
        "spool.jobs.enqueued": "spool_jobs_enqueued_total",
        "spool.jobs.processed": "spool_jobs_processed_total",
        "spool.jobs.reclaimed": "spool_jobs_reclaimed_total",
        "spool.jobs.dropped": "spool_jobs_dropped_total",
        "spool.job.duration": "spool_job_duration_seconds",
        "spool.job.queued.duration": "spool_job_queued_duration_seconds",
    ]

    /// The Prometheus name of a swift-metrics label.
    static func name(_ label: String) -> String {
        renamed[label] ?? label.replacingOccurrences(of: ".", with: "_")
    }

    /// The buckets of `spool_job_duration_seconds`: swift-prometheus's default (5 ms to 10 s)
    /// and on to 10 minutes, past the default handler timeout (5 minutes), so a slow job
    /// lands in a finite bucket rather than only in `+Inf`.
    static let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(600),
    ]

    /// The buckets of `spool_job_queued_duration_seconds`: queued durations reach minutes.
    static let queuedBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(5), .seconds(30),
        .seconds(60), .seconds(300), .seconds(1800), .seconds(3600),
    ]

    /// A factory writing into `registry` with Spool's names and histogram buckets.
    static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { label, dimensions in (name(label), dimensions) }
        factory.durationHistogramBuckets["spool_job_duration_seconds"] = durationBuckets
        factory.durationHistogramBuckets["spool_job_queued_duration_seconds"] = queuedBuckets
        return factory
    }
}
