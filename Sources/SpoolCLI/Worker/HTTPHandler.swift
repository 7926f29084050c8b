import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Spool
import SpoolRedis

/// The `http` handler: POSTs the payload to a URL with the job's metadata in `Spool-*` headers.
///
/// 2xx is success. 408, 429, 5xx, timeouts and connection errors are retryable; other
/// statuses are permanent failures (the job goes to the dead letters). Redirects are followed
/// only with 307/308 to the same scheme, host and port (at most 3); any other redirect is a
/// permanent failure. A `Retry-After` of at most 10 seconds (and shorter than the handler
/// timeout) is waited out before the attempt fails, so the retry comes no sooner; a longer one
/// is reported in the error and the retry strategy decides when to try again.
struct HTTPHandler: Sendable {
    let url: URL
    let client: HTTPClient
    let policy: NetworkPolicy
    let timeout: Duration

    /// The longest `Retry-After` the handler waits out itself.
    static let longestRetryAfterWait = 10

    /// Validates `text` as an http(s) URL.
    static func parse(_ text: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw CLIError("--http needs an http:// or https:// URL with a host (got \(RedisURL.redact(text)))")
        }
        return url
    }

    func run(_ envelope: JobEnvelope, _ context: JobContext) async throws {
        // A job type another producer wrote may hold what no HTTP header can carry (CR, LF,
        // other control bytes): the request could never be sent, so no retry can help.
        guard Self.isHeaderValue(context.type) else {
            throw NonRetryableError(
                "job type \(String(reflecting: context.type)) holds control characters an HTTP header cannot carry "
                    + "(Spool-Job-Type); push the job with a plain type"
            )
        }
        // (a traceparent or tracestate here is valid W3C trace context: the worker passes an
        // invalid stored one on as nil, so none is sent)
        let traceparent = context.traceparent
        let tracestate = context.tracestate
        var target = url
        for _ in 0...3 {
            let shown = RedisURL.redact(target.absoluteString)
            do {
                try await policy.check(host: target.host ?? "")
            } catch let error as DeniedAddress {
                throw NonRetryableError(error, message: error.message)
            }
            var request = HTTPClientRequest(url: target.absoluteString)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: Self.isJSON(envelope.payload) ? "application/json" : "application/octet-stream")
            request.headers.add(name: "Spool-Job-Id", value: "\(context.id)")
            request.headers.add(name: "Spool-Queue", value: context.queue.rawValue)
            request.headers.add(name: "Spool-Group", value: context.group.rawValue)
            request.headers.add(name: "Spool-Job-Type", value: context.type)
            request.headers.add(name: "Spool-Attempt", value: "\(context.attempt)")
            request.headers.add(name: "Spool-Enqueued-At", value: "\(context.enqueuedAt)")
            if let traceparent {
                request.headers.add(name: "traceparent", value: traceparent)
            }
            if let tracestate {
                request.headers.add(name: "tracestate", value: tracestate)
            }
            request.body = .bytes(ByteBuffer(bytes: envelope.payload))

            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds + 1_000_000_000))
            } catch {
                try Task.checkCancellation()
                throw HTTPFailure(message: "POST \(shown) failed: \(error)")
            }
            let status = Int(response.status.code)
            let tail = await Self.tail(of: response.body)
            let what = "POST \(shown) answered \(status)" + (tail.isEmpty ? "" : ": \(tail)")
            switch status {
            case 200..<300:
                return
            case 307, 308:
                guard let location = response.headers.first(name: "location"),
                      let next = URL(string: location, relativeTo: target)?.absoluteURL,
                      next.scheme == target.scheme, next.host == target.host, next.port == target.port
                else {
                    throw NonRetryableError("\(what) (a redirect to another host is not followed)")
                }
                target = next
            case 300..<400:
                throw NonRetryableError("\(what) (only 307/308 redirects to the same host are followed)")
            case 408, 429, 500...:
                let retryAfter = response.headers.first(name: "retry-after").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                if let seconds = retryAfter, seconds > 0 {
                    if seconds <= Self.longestRetryAfterWait && Duration.seconds(seconds) < timeout {
                        try await Task.sleep(for: .seconds(seconds))
                        throw HTTPFailure(message: "\(what) (waited Retry-After: \(seconds)s)")
                    }
                    throw HTTPFailure(message: "\(what) (Retry-After: \(seconds)s is longer than the handler waits; the retry strategy decides)")
                }
                throw HTTPFailure(message: what)
            case 400..<500:
                throw NonRetryableError(what)
            default:
                throw HTTPFailure(message: what)
            }
        }
        throw NonRetryableError("POST \(RedisURL.redact(url.absoluteString)): too many redirects")
    }

    /// Whether `text` can be an HTTP field value: no control characters but horizontal tab
    /// (RFC 9110, section 5.5).
    static func isHeaderValue(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// The most of a response body read for its tail; the rest is not read.
    static let maxBodyBytes = 16 << 20
    /// How much of a body's end goes into the error.
    static let tailBytes = 1024

    /// The last 1 KiB of a response body as text, for the error (a dead letter keeps the first
    /// 2,000 bytes of an error, so the URL and status fit beside it). The whole body is read (up
    /// to ``maxBodyBytes``), keeping only its end: collecting at most 64 KiB, as before, failed
    /// on a longer body and the error lost the text a server puts last.
    static func tail(of body: HTTPClientResponse.Body) async -> String {
        var tail: [UInt8] = []
        var total = 0
        var cut = false
        do {
            for try await chunk in body {
                total += chunk.readableBytes
                tail.append(contentsOf: chunk.readableBytesView)
                if tail.count > 8 * tailBytes { tail.removeFirst(tail.count - tailBytes) }
                if total > maxBodyBytes {
                    cut = true
                    break
                }
            }
        } catch {}
        let text = String(decoding: tail.suffix(tailBytes), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return cut ? text + " (body longer than \(maxBodyBytes >> 20) MiB, cut)" : text
    }

    private static func isJSON(_ payload: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) != nil
    }
}

/// A retryable failure of an HTTP request.
struct HTTPFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled &+ attoseconds / 1_000_000_000
    }
}
