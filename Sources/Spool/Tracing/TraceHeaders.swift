import Instrumentation
import Tracing

/// Carries W3C trace context (`traceparent`, `tracestate`) between a tracer and a job envelope.
struct TraceHeaders: Injector, Extractor {
    typealias Carrier = [String: String]

    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key.lowercased()] = value
    }

    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key.lowercased()]
    }

    /// The tracer, or `nil` for the no-op tracer so the hot path skips tracing entirely.
    static func active(_ tracer: any Tracer) -> (any Tracer)? {
        tracer is NoOpTracer ? nil : tracer
    }

    /// The `traceparent` the tracer writes for `context`, if any, and the `tracestate` it
    /// writes with it (`nil` when it writes none, or one that is not W3C `tracestate`, an empty
    /// one among them: what Spool stores and passes on is valid).
    static func headers(of context: ServiceContext, tracer: any Tracer) -> (traceparent: String?, tracestate: String?) {
        var carrier: [String: String] = [:]
        tracer.inject(context, into: &carrier, using: TraceHeaders())
        guard let traceparent = carrier["traceparent"] else { return (nil, nil) }
        return (traceparent, carrier["tracestate"].flatMap { TraceState.isValid($0) ? $0 : nil })
    }

    /// The context a job's `traceparent` (and `tracestate`) name (a remote parent), or a
    /// top-level context.
    static func context(from traceparent: String?, tracestate: String?, tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            var carrier = ["traceparent": traceparent]
            if let tracestate { carrier["tracestate"] = tracestate }
            tracer.extract(carrier, into: &context, using: TraceHeaders())
        }
        return context
    }
}
