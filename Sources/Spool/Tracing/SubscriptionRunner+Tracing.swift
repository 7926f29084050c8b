import Instrumentation
import Tracing

extension SubscriptionRunner {
    /// Runs `body` in a `process <queue>` consumer span (OpenTelemetry's messaging naming:
    /// the operation and the destination; the job type, which producers choose, is the
    /// attribute `spool.job.type`, so span names stay few), the child of the span the job was
    /// enqueued in (its `traceparent` and `tracestate`); `body` gets the handler span's
    /// `traceparent` and `tracestate`. Without a tracer it runs `body` with the job's own.
    ///
    /// A stored `traceparent` that is not W3C trace context (another producer wrote it; Spool's
    /// refuse one) is treated as absent, as the spec says to: no parent, and handlers get none
    /// (so `spool worker`'s exec and http handlers pass none on). So is a stored `tracestate`
    /// that is not, or that comes without a valid `traceparent`.
    nonisolated(nonsending) func traced(
        _ envelope: JobEnvelope, attempt: Int, _ body: nonisolated(nonsending) (_ traceparent: String?, _ tracestate: String?) async -> Outcome
    ) async -> Outcome {
        let stored = envelope.traceparent.flatMap { TraceParent.isValid($0) ? $0 : nil }
        let state = stored == nil ? nil : envelope.tracestate.flatMap { TraceState.isValid($0) ? $0 : nil }
        guard let tracer else { return await body(stored, state) }
        return await traced(envelope, attempt: attempt, stored: (stored, state), tracer: tracer, body)
    }

    /// ``traced(_:attempt:_:)`` with a tracer. A function of its own, so that without a tracer
    /// the job's task allocates no frame for the span's locals (each async call's frame comes
    /// from the task's allocator, and a larger one cost each job a `malloc`:
    /// docs/performance.md, "Stop 26").
    nonisolated(nonsending) private func traced(
        _ envelope: JobEnvelope, attempt: Int, stored: (traceparent: String?, tracestate: String?), tracer: any Tracer,
        _ body: nonisolated(nonsending) (_ traceparent: String?, _ tracestate: String?) async -> Outcome
    ) async -> Outcome {
        let parent = TraceHeaders.context(from: stored.traceparent, tracestate: stored.tracestate, tracer: tracer)
        let span = tracer.startSpan("process \(keys.queue)", context: parent, ofKind: .consumer)
        defer { span.end() }
        span.attributes["messaging.system"] = "spool"
        span.attributes["messaging.operation.type"] = "process"
        span.attributes["messaging.operation.name"] = "process"
        span.attributes["messaging.destination.name"] = keys.queue.rawValue
        span.attributes["messaging.consumer.group.name"] = group.rawValue
        span.attributes["messaging.message.id"] = envelope.id.description
        span.attributes["spool.job.type"] = envelope.type
        span.attributes["spool.attempt"] = attempt
        let outcome = await ServiceContext.$current.withValue(span.context) {
            let own = TraceHeaders.headers(of: span.context, tracer: tracer)
            return await own.traceparent == nil ? body(stored.traceparent, stored.tracestate) : body(own.traceparent, own.tracestate)
        }
        switch outcome {
        case .succeeded, .duplicate, .abandoned:
            break
        case .failed(let error), .deadLetter(_, let error), .handedBack(let error, _):
            span.setStatus(SpanStatus(code: .error, message: error))
        }
        return outcome
    }
}
