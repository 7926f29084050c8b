import Instrumentation
import Tracing

extension SpoolProducer {
    /// Runs a push in a `spool.push <queue>` producer span whose context (`traceparent`, and
    /// `tracestate` when the tracer writes one) is written into each envelope without a
    /// `traceparent` (explicit ones are kept); without a tracer, just the push.
    func traced<T>(
        _ envelopes: [JobEnvelope], to queue: QueueName,
        _ push: ([JobEnvelope]) async throws(SpoolError) -> T
    ) async throws(SpoolError) -> T {
        guard let tracer, envelopes.contains(where: { $0.traceparent == nil }) else {
            return try await push(envelopes)
        }
        let span = tracer.startSpan("spool.push \(queue)", context: ServiceContext.current ?? .topLevel, ofKind: .producer)
        defer { span.end() }
        span.attributes["messaging.system"] = "spool"
        span.attributes["messaging.operation.type"] = "send"
        span.attributes["messaging.destination.name"] = queue.rawValue
        span.attributes["messaging.batch.message_count"] = envelopes.count
        let (traceparent, tracestate) = TraceHeaders.headers(of: span.context, tracer: tracer)
        var stamped = envelopes
        for index in stamped.indices where stamped[index].traceparent == nil {
            stamped[index].traceparent = traceparent
            stamped[index].tracestate = traceparent == nil ? nil : tracestate
        }
        do {
            return try await push(stamped)
        } catch {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
            throw error
        }
    }
}
