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
        var afterPassword = false
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let value = parts.count > 1 ? parts[1] : ""
            switch parts.first {
            case "db":
                guard let db = Int(value), db >= 0 else { throw fail("db must be a number") }
                database = db
            case "password":
                password = try decode(value, fail)
                afterPassword = true
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
            case _ where afterPassword:
                // not named: it may be the rest of a password that holds a '&'
                throw fail("unknown parameter after password= (a '&' in the password must be percent-encoded: %26)")
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
        // Err on the side of hiding: the URL may be malformed in any way (no scheme; a '/',
        // '?', '@' or '&' inside a password), so a byte is hidden when it could be secret under
        // either reading of it: userinfo ending at the last '@' anywhere (a '/' or '?' in the
        // password), or ending at the last '@' before the first '/' or '?' (as the parser
        // reads it, so an '@' in the query is a query value's); and each of the two queries
        // these readings give hides every value that is not a known harmless setting, and
        // everything after such a value (a '&' in a password starts what looks like more
        // parameters).
        let bytes = Array(url.utf8)
        var secret = [Bool](repeating: false, count: bytes.count)
        let schemeEnd = url.firstRange(of: "://").map { url.utf8.distance(from: url.startIndex, to: $0.upperBound) } ?? 0
        func hideUserinfo(endingAt at: Int) {
            if let colon = bytes[schemeEnd..<at].firstIndex(of: UInt8(ascii: ":")) {
                for index in colon + 1..<at { secret[index] = true }
            } else if !bytes[schemeEnd..<at].contains(UInt8(ascii: "?")) {
                // no ':': a user name by RFC 3986 (and to Spool), but redis-cli reads
                // `redis://SECRET@host` as a password, so it is hidden whole (an '@' after a
                // '?' is a query value's, hidden with the query)
                for index in schemeEnd..<at { secret[index] = true }
            }
        }
        func hideQuery(after question: Int) {
            let harmless: Set<String> = ["db", "ca", "cert", "key", "sni", "verify"]
            var hiding = false
            var start = question + 1
            while start <= bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                let pair = bytes[start..<end]
                if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                    let name = String(decoding: bytes[start..<equals], as: UTF8.self)
                    if hiding || !harmless.contains(name) {
                        // name and value: a name that is not a parameter may be part of a password
                        let from = harmless.contains(name) || name == "password" ? equals + 1 : start
                        for index in from..<end { secret[index] = true }
                        hiding = true
                    }
                } else if !pair.isEmpty {
                    for index in start..<end { secret[index] = true }
                    hiding = true
                }
                start = end + 1
            }
        }
        let lastAt = bytes[schemeEnd...].lastIndex(of: UInt8(ascii: "@"))
        if let lastAt { hideUserinfo(endingAt: lastAt) }
        let authorityEnd = bytes[schemeEnd...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
        let parsedAt = bytes[schemeEnd..<authorityEnd].lastIndex(of: UInt8(ascii: "@"))
        if let parsedAt { hideUserinfo(endingAt: parsedAt) }
        for userinfoEnd in [lastAt, parsedAt] {
            if let question = bytes[(userinfoEnd ?? schemeEnd)...].firstIndex(of: UInt8(ascii: "?")) {
                hideQuery(after: question)
            }
        }
        // each run of hidden bytes becomes "***"; runs start and end at ASCII bytes, so the
        // rest stays valid UTF-8
        var shown: [UInt8] = []
        shown.reserveCapacity(bytes.count)
        for index in bytes.indices {
            if !secret[index] {
                shown.append(bytes[index])
            } else if index == 0 || !secret[index - 1] {
                shown += Array("***".utf8)
            }
        }
        return String(decoding: shown, as: UTF8.self)
    }
}
