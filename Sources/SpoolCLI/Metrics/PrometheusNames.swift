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
        "spool.jobs.dropped": "spool_jobs_dropped_total",
        "spool.job.duration": "spool_job_duration_seconds",
        "spool.job.queued.duration": "spool_job_queued_duration_seconds",
    ]

    /// The Prometheus name of a swift-metrics label.
    static func name(_ label: String) -> String {
        renamed[label] ?? label.replacingOccurrences(of: ".", with: "_")
    }

    /// A factory writing into `registry` with Spool's names. Queued durations reach minutes,
    /// so their buckets go further than the default (10 s).
    static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { label, dimensions in (name(label), dimensions) }
        factory.durationHistogramBuckets["spool_job_queued_duration_seconds"] = [
            .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(5), .seconds(30),
            .seconds(60), .seconds(300), .seconds(1800), .seconds(3600),
        ]
        return factory
    }
}
