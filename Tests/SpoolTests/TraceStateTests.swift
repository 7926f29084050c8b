import Spool
import Testing

/// The W3C `tracestate` rule a push checks and a worker applies to what it reads.
@Suite("TraceState")
struct TraceStateTests {
    static let valid = [
        "",
        "rojo=00f067aa0ba902b7",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        " congo=t61rcWkgMzE ,\trojo=00f067aa0ba902b7\t",   // blanks around members
        "a=1,,b=2",                                       // an empty member is ignored
        "fw529a3039@dt=ZmY1NmFiMTJmYWQ5NDUxY2JiNzA0NmJhMjA0MTg0MDc",   // tenant@system, tenant from a digit's place
        "1tenant@vendor=x",
        "k_-*/9=v a!\"#$%&'()*+-./:;<>?@[]^_`{|}~",         // every value character but , and =
        String(repeating: "k", count: 256) + "=" + String(repeating: "v", count: 256),
        (0..<32).map { "k\($0)=v" }.joined(separator: ","),
    ]

    static let invalid = [
        "rojo",                                   // no =
        "=value",                                 // empty key
        "rojo=",                                  // empty value
        "Rojo=1",                                 // uppercase key
        "1rojo=1",                                // a simple key starts with a letter
        "ro jo=1",                                // a space inside the key
        "rojo=a=b",                               // = inside the value
        "rojo=1 x,rojo=2",                        // the key twice
        "rojo=ünïcode",                           // not ASCII
        "rojo=tab\there",                         // a control character
        "@vendor=1", "tenant@=1", "tenant@1vendor=1", "tenant@ven@dor=1", "tenant@" + String(repeating: "v", count: 15) + "=1",
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
}
