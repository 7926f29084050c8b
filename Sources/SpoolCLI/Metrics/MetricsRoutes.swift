import NIOHTTP1
import Prometheus
import Spool
import SpoolRedis
import Synchronization

/// What `spool worker --metrics-port` answers: `/metrics`, `/healthz` and `/readyz`.
struct MetricsRoutes: Sendable {
    /// One HTTP answer.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType = "text/plain; charset=utf-8"
        var body: [UInt8]

        init(_ status: HTTPResponseStatus, _ text: String) {
            self.status = status
            self.body = Array((text + "\n").utf8)
        }
    }

    let registry: PrometheusCollectorRegistry
    let lag: LagWatch
    let subscriptions: [(queue: QueueName, group: GroupName)]
    let maxLag: Duration
    /// `nil` when Redis replied to a PING in time, else why not.
    let pingRedis: @Sendable () async -> String?

    func respond(method: HTTPMethod, path: String) async -> Response {
        guard method == .GET || method == .HEAD else {
            return Response(.methodNotAllowed, "use GET")
        }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/metrics":
            var response = Response(.ok, "")
            response.body = registry.emitToBuffer()
            response.contentType = "text/plain; version=0.0.4; charset=utf-8"
            return response
        case "/healthz":
            if let failure = await pingRedis() { return Response(.serviceUnavailable, failure) }
            return Response(.ok, "ok")
        case "/readyz":
            if let reason = lag.notReadyReason(subscriptions: subscriptions, maxLag: maxLag) {
                return Response(.serviceUnavailable, reason)
            }
            return Response(.ok, "ok")
        default:
            return Response(.notFound, "not found: try /metrics, /healthz or /readyz")
        }
    }

    /// PINGs through `client`; `nil` when it answered within `limit`, else why not: its error
    /// (addresses redacted) or the time out (the PING may finish later, unobserved).
    static func ping(_ client: RedisClient, limit: Duration = .seconds(1)) async -> String? {
        let answered = Mutex(false)
        return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let resume: @Sendable (String?) -> Void = { ok in
                let first = answered.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: ok) }
            }
            Task {
                do {
                    let reply = try await client.send(RedisCommand("PING"))
                    resume(reply.string == "PONG" ? nil : "redis answered PING with \(reply)")
                } catch {
                    resume("redis PING failed: \(error)")
                }
            }
            Task {
                try? await Task.sleep(for: limit)
                resume("redis did not answer PING within \(limit)")
            }
        }
    }
}
