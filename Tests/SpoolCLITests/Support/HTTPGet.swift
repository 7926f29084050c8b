import Foundation

/// A plain-socket HTTP/1.1 GET against 127.0.0.1 (no URLSession): status and body.
struct HTTPGetResult {
    var status: Int
    var body: String
}

enum HTTPGet {
    static func get(port: Int, _ path: String, host: String = "127.0.0.1") throws -> HTTPGetResult {
        let fd = try connected(port: port, host: host, timeout: timeval(tv_sec: 5, tv_usec: 0))
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { throw TestFailure("write failed") }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 { throw TestFailure("read failed: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no HTTP header end in \(text)") }
        let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("bad status line \(statusLine)") }
        return HTTPGetResult(status: status, body: String(text[split.upperBound...]))
    }

    /// A socket connected to `host`:`port` whose reads give up after `timeout`; the caller closes it.
    static func connected(port: Int, host: String = "127.0.0.1", timeout: timeval) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var timeout = timeout
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("connect to \(host):\(port) failed: \(String(cString: strerror(errno)))")
        }
        return fd
    }
}

/// One sample of the Prometheus text format: `name{label="value",...} number`.
struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// Parses the exposition text line by line; comments and blank lines are skipped.
    static func parse(_ text: String) throws -> [PrometheusSample] {
        var samples: [PrometheusSample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw TestFailure("unparsable sample line: \(line)")
            }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let open = series.firstIndex(of: "{") {
                name = series[..<open]
                guard series.last == "}" else { throw TestFailure("unparsable labels: \(line)") }
                let body = series[series.index(after: open)..<series.index(before: series.endIndex)]
                // label values here never contain `",` (queue, group, type and status names)
                for pair in body.split(separator: ",") where !pair.isEmpty {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw TestFailure("bad label \(pair)") }
                    labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                }
            } else {
                name = series
            }
            samples.append(PrometheusSample(name: String(name), labels: labels, value: value))
        }
        return samples
    }
}

extension [PrometheusSample] {
    /// The value of the one series named `name` whose labels include `labels`; `nil` when absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }
}

extension SpoolProcess {
    /// The port of the metrics endpoint a worker started with `--metrics-port 0` logged
    /// (`spool.metrics.address=127.0.0.1:<port>`), once it has; fails if the worker exits first.
    func loggedMetricsPort() async throws -> Int {
        var port = 0
        try await waitUntil("the worker logs its metrics address") {
            if let match = stderr.firstMatch(of: /spool\.metrics\.address=127\.0\.0\.1:(\d+)/) {
                port = Int(match.1) ?? 0
            }
            if !isRunning { throw TestFailure("worker exited: \(stderr)") }
            return port > 0
        }
        return port
    }
}
