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

    /// The `traceparent` the tracer writes for `context`, if any.
    static func traceparent(of context: ServiceContext, tracer: any Tracer) -> String? {
        var carrier: [String: String] = [:]
        tracer.inject(context, into: &carrier, using: TraceHeaders())
        return carrier["traceparent"]
    }

    /// The context a job's `traceparent` names (a remote parent), or a top-level context.
    static func context(from traceparent: String?, tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        if let traceparent {
            tracer.extract(["traceparent": traceparent], into: &context, using: TraceHeaders())
        }
        return context
    }
}
