import Instrumentation
import Synchronization
import Tracing

/// A tracer for tests: records every span and propagates W3C `traceparent`
/// (`00-<32 hex trace id>-<16 hex span id>-01`) and `tracestate`, where each span puts its own
/// member `test=<span id>` first, before the other members of its parent's (as a vendor's
/// tracer does). No global bootstrap: pass it as `tracer:`.
final class TestTracer: Tracer, Sendable {
    /// The identity of a span (or of a remote parent read from a `traceparent`).
    struct SpanIdentity: Sendable, Hashable {
        var traceID: String
        var spanID: String
        var parentSpanID: String?
        /// The `tracestate`: of a remote parent as read, of a span as it writes it.
        var state: String? = nil
    }

    enum IdentityKey: ServiceContextKey {
        typealias Value = SpanIdentity
    }

    /// One ended span as recorded.
    struct Recorded: Sendable {
        var operationName: String
        var kind: SpanKind
        var identity: SpanIdentity
        var attributes: SpanAttributes
        var status: SpanStatus?
    }

    private let ended = Mutex<[Recorded]>([])

    /// The spans ended so far, in order.
    var spans: [Recorded] { ended.withLock { $0 } }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> TestSpan {
        var context = context()
        let parent = context[IdentityKey.self]
        let spanID = Self.hex(8)
        let inherited = (parent?.state ?? "").split(separator: ",").filter { !$0.hasPrefix("test=") }
        let identity = SpanIdentity(
            traceID: parent?.traceID ?? Self.hex(16), spanID: spanID, parentSpanID: parent?.spanID,
            state: (["test=\(spanID)"] + inherited.map(String.init)).joined(separator: ",")
        )
        context[IdentityKey.self] = identity
        return TestSpan(operationName: operationName, kind: kind, context: context, identity: identity) { [self] span in
            self.ended.withLock { $0.append(span) }
        }
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let identity = context[IdentityKey.self] else { return }
        injector.inject("00-\(identity.traceID)-\(identity.spanID)-01", forKey: "traceparent", into: &carrier)
        if let state = identity.state { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32, parts[2].count == 16 else { return }
        context[IdentityKey.self] = SpanIdentity(
            traceID: String(parts[1]), spanID: String(parts[2]), state: extractor.extract(key: "tracestate", from: carrier)
        )
    }

    private static func hex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in
            let byte = UInt8.random(in: 0...255)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

/// A span of ``TestTracer``.
final class TestSpan: Span, Sendable {
    let context: ServiceContext
    let identity: TestTracer.SpanIdentity
    let kind: SpanKind
    private let state: Mutex<(name: String, attributes: SpanAttributes, status: SpanStatus?, recording: Bool)>
    private let onEnd: @Sendable (TestTracer.Recorded) -> Void

    init(
        operationName: String, kind: SpanKind, context: ServiceContext, identity: TestTracer.SpanIdentity,
        onEnd: @escaping @Sendable (TestTracer.Recorded) -> Void
    ) {
        self.context = context
        self.identity = identity
        self.kind = kind
        self.state = Mutex((operationName, [:], nil, true))
        self.onEnd = onEnd
    }

    var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { $0.name = newValue } }
    }

    var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { $0.attributes = newValue } }
    }

    var isRecording: Bool { state.withLock { $0.recording } }

    func setStatus(_ status: SpanStatus) { state.withLock { $0.status = status } }
    func addEvent(_ event: SpanEvent) {}
    func addLink(_ link: SpanLink) {}
    func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let recorded: TestTracer.Recorded? = state.withLock { state in
            guard state.recording else { return nil }
            state.recording = false
            return TestTracer.Recorded(
                operationName: state.name, kind: kind, identity: identity, attributes: state.attributes, status: state.status
            )
        }
        if let recorded { onEnd(recorded) }
    }
}
