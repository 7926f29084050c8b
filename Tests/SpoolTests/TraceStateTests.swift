import Instrumentation
@testable import Spool
import Testing
import Tracing

/// The W3C `tracestate` rule a push checks and a worker applies to what it reads.
@Suite("TraceState")
struct TraceStateTests {
    static let valid = [
        "rojo=00f067aa0ba902b7",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        " congo=t61rcWkgMzE ,\trojo=00f067aa0ba902b7\t",   // blanks around members
        "a=1,,b=2",                                       // an empty member is ignored
        "a= b",                                           // a value may start with a space
        "fw529a3039@dt=ZmY1NmFiMTJmYWQ5NDUxY2JiNzA0NmJhMjA0MTg0MDc",   // Level 1's tenant@system
        String(repeating: "t", count: 241) + "@" + String(repeating: "s", count: 14) + "=x",   // its longest
        "0vendor=x", "a@b@c=x", "tenant@=x",               // Level 2's keys: from a digit, @ anywhere but first
        "k_-*/9@=v a!\"#$%&'()*+-./:;<>?@[]^_`{|}~\\AZaz09",   // every kind of key and value character
        String(repeating: "k", count: 256) + "=" + String(repeating: "v", count: 256),
        (0..<32).map { "k\($0)=v" }.joined(separator: ","),
    ]

    static let invalid = [
        "", " , ", "\t",                          // no member: nothing to pass on
        "rojo",                                   // no =
        "=value",                                 // empty key
        "rojo=",                                  // empty value
        "Rojo=1",                                 // uppercase key
        "_rojo=1", "@vendor=1",                   // a key starts with a letter or a digit
        "ro jo=1",                                // a space inside the key
        "rojo=a=b",                               // = inside the value
        "rojo=1 x,rojo=2",                        // the key twice
        "rojo=ünïcode",                           // not ASCII
        "rojo=tab\there",                         // a control character
        String(repeating: "k", count: 257) + "=v",
        "k=" + String(repeating: "v", count: 257),
        (0..<33).map { "k\($0)=v" }.joined(separator: ","),
    ]

    @Test("values W3C Trace Context allows are valid", arguments: valid)
    func accepts(value: String) {
        #expect(JobEnvelope.isValidTracestate(value))
    }

    @Test("values W3C Trace Context does not allow are refused", arguments: invalid)
    func refuses(value: String) {
        #expect(!JobEnvelope.isValidTracestate(value))
    }

    /// Writes a fixed `traceparent` and the given `tracestate`.
    struct FixedTracer: Tracer {
        let state: String
        func startSpan<Instant: TracerInstant>(
            _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
            at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
        ) -> NoOpTracer.NoOpSpan {
            NoOpTracer.NoOpSpan(context: context())
        }
        func forceFlush() {}
        func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
        where Inject.Carrier == Carrier {
            injector.inject(TracingTests.remoteParent, forKey: "traceparent", into: &carrier)
            injector.inject(state, forKey: "tracestate", into: &carrier)
        }
        func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
        where Extract.Carrier == Carrier {}
    }

    @Test("a tracestate a tracer writes is stored and passed on only when valid: an empty or invalid one is left out")
    func fromATracer() {
        for (state, expected) in [("rojo=1", "rojo=1"), ("", nil), (" , ", nil), ("Rojo=1", nil)] as [(String, String?)] {
            let headers = TraceHeaders.headers(of: .topLevel, tracer: FixedTracer(state: state))
            #expect(headers.traceparent == TracingTests.remoteParent)
            #expect(headers.tracestate == expected, "\(state)")
        }
    }
}
