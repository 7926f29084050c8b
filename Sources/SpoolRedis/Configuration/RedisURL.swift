/// Parser for Redis URLs; keeps passwords out of every error message.
package struct RedisURL: Sendable, Equatable {
    package var address: RedisAddress
    package var username: String?
    package var password: String?
    package var database: Int
    /// TLS options for `rediss://`; `nil` for plaintext.
    package var tls: TLSOptions? = nil
    /// The seed nodes of a `redis-cluster://` URL (``address`` is the first); `nil` otherwise.
    package var clusterSeeds: [RedisAddress]? = nil

    package static func parse(_ url: String) throws(RedisError) -> RedisURL {
        let shown = redact(url)
        // set when an '@' follows the first '/' or '?': most likely one of those is inside the
        // password, which then parses as a host, port or path
        var hint = ""
        func fail(_ why: String) -> RedisError {
            RedisError(
                code: .invalidURL,
                message: "\(why)\(hint) in \"\(shown)\": use redis://[user[:password]@]host[:port][/db] (rediss:// for TLS), "
                    + "redis-cluster://[user[:password]@]host:port[,host:port...] or unix:///path/to.sock[?db=N]"
            )
        }
        guard let schemeEnd = url.firstRange(of: "://") else { throw fail("missing scheme") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = Substring(url[schemeEnd.upperBound...])

        var username: String?
        var password: String?
        // userinfo ends at the last '@' before the path
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let isCluster = scheme == "redis-cluster" || scheme == "rediss-cluster"
        if scheme != "unix", rest[authorityEnd...].contains("@") {
            hint = " (a '/' or '?' in the password must be percent-encoded: %2F, %3F)"
        }
        if scheme == "redis" || scheme == "rediss" || isCluster, let at = rest[..<authorityEnd].lastIndex(of: "@") {
            try parseUserinfo(rest[..<at], &username, &password, fail)
            rest = rest[rest.index(after: at)...]
        } else if scheme == "unix", let at = rest.firstIndex(of: "@"), rest.first != "/" {
            try parseUserinfo(rest[..<at], &username, &password, fail)
            rest = rest[rest.index(after: at)...]
        }

        switch scheme {
        case "redis", "rediss", "redis-cluster", "rediss-cluster":
            var tls: TLSOptions? = scheme.hasPrefix("rediss") ? TLSOptions() : nil
            let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let hosts = isCluster ? rest[..<hostEnd].split(separator: ",", omittingEmptySubsequences: false) : [rest[..<hostEnd]]
            let addresses = try hosts.map { hostPort throws(RedisError) in try parseHostPort(hostPort, fail) }
            var database = 0
            let path = rest[hostEnd...].prefix { $0 != "?" }
            if path.count > 1 {
                guard let db = Int(path.dropFirst()), db >= 0 else { throw fail("database must be a number") }
                database = db
            }
            if let query = rest.firstIndex(of: "?").map({ rest[rest.index(after: $0)...] }) {
                try parseQuery(query, &database, &password, &tls, fail)
            }
            if isCluster && database != 0 { throw fail("Redis Cluster has only database 0") }
            return RedisURL(
                address: addresses[0], username: username, password: password, database: database, tls: tls,
                clusterSeeds: isCluster ? addresses : nil
            )
        case "unix":
            let pathEnd = rest.firstIndex(of: "?") ?? rest.endIndex
            let path = rest[..<pathEnd]
            guard path.first == "/" else { throw fail("unix socket path must be absolute") }
            var database = 0
            if pathEnd < rest.endIndex {
                var tls: TLSOptions?
                try parseQuery(rest[rest.index(after: pathEnd)...], &database, &password, &tls, fail)
            }
            return RedisURL(address: .unix(path: String(path)), username: username, password: password, database: database)
        default:
            throw fail("unsupported scheme \"\(scheme)\"")
        }
    }

    /// `host[:port]` or `[ipv6][:port]`; an empty host is 127.0.0.1, the port defaults to 6379.
    private static func parseHostPort(_ hostPort: Substring, _ fail: (String) -> RedisError) throws(RedisError) -> RedisAddress {
        var host: Substring
        var port = 6379
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else { throw fail("unclosed IPv6 bracket") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.first == ":" { port = try parsePort(after.dropFirst(), fail) } else if !after.isEmpty {
                throw fail("unexpected text after the IPv6 address")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            port = try parsePort(hostPort[hostPort.index(after: colon)...], fail)
        } else {
            host = hostPort
        }
        if host.isEmpty { host = "127.0.0.1" }
        return .tcp(host: String(host), port: port)
    }

    private static func parseUserinfo(
        _ info: Substring, _ username: inout String?, _ password: inout String?, _ fail: (String) -> RedisError
    ) throws(RedisError) {
        if let colon = info.firstIndex(of: ":") {
            let user = info[..<colon]
            username = user.isEmpty ? nil : try decode(user, fail)
            password = try decode(info[info.index(after: colon)...], fail)
        } else if !info.isEmpty {
            username = try decode(info, fail)
        }
    }

    private static func parsePort(_ text: Substring, _ fail: (String) -> RedisError) throws(RedisError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else { throw fail("port must be 1-65535") }
        return port
    }

    private static func parseQuery(
        _ query: Substring, _ database: inout Int, _ password: inout String?, _ tls: inout TLSOptions?,
        _ fail: (String) -> RedisError
    ) throws(RedisError) {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts.first {
            case "db":
                guard let db = Int(value), db >= 0 else { throw fail("db must be a number") }
                database = db
            case "password":
                password = try decode(value, fail)
            case "ca", "cert", "key", "sni", "verify":
                guard tls != nil else { throw fail("\"\(parts[0])\" needs rediss://") }
                let decoded = try decode(value, fail)
                switch parts[0] {
                case "ca": tls?.caFile = decoded
                case "cert": tls?.certificateFile = decoded
                case "key": tls?.keyFile = decoded
                case "sni": tls?.serverName = decoded
                default:
                    switch decoded {
                    case "yes", "true", "1": tls?.verify = true
                    case "no", "false", "0": tls?.verify = false
                    default: throw fail("verify must be yes or no")
                    }
                }
            default:
                throw fail("unknown parameter \"\(parts.first ?? "")\"")
            }
        }
    }

    private static func decode(_ text: Substring, _ fail: (String) -> RedisError) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw fail("bad percent-encoding")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    package static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    /// Replaces the password of any URL-looking text by `***`, so it can be shown in errors and logs.
    package static func redact(_ url: String) -> String {
        // Err on the side of hiding: the URL may be malformed in any way (no scheme, a '/' or
        // '?' inside the password), so everything before the last '@' after the scheme is
        // userinfo, and every query value that is not a known harmless setting is hidden.
        let schemeEnd = url.firstRange(of: "://")?.upperBound ?? url.startIndex
        var result = String(url[..<schemeEnd])
        var rest = url[schemeEnd...]
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            result += (info.firstIndex(of: ":").map { info[..<$0] + ":***" } ?? info) + "@"
            rest = rest[rest.index(after: at)...]
        }
        guard let question = rest.firstIndex(of: "?") else { return result + rest }
        result += rest[...question]
        let harmless: Set<Substring> = ["db", "ca", "cert", "key", "sni", "verify"]
        result += rest[rest.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count == 2 && !harmless.contains(parts[0]) ? parts[0] + "=***" : String(pair)
        }.joined(separator: "&")
        return result
    }
}
