import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Which addresses the `http` handler may POST to.
///
/// By default loopback, link-local, private, shared (CGNAT), unspecified, multicast and
/// reserved ranges are refused: every address the host resolves to is checked before each
/// request (and before following a same-host redirect), so a job cannot be pointed at the
/// worker's own network. `--allow-private-network` (or `--dev`) turns the check off.
///
/// The check resolves the name separately from the HTTP client's own resolution, so a DNS
/// server that answers differently the second time (DNS rebinding) is not stopped by it;
/// for untrusted URLs, put the worker behind an egress proxy or firewall as well.
struct NetworkPolicy: Sendable {
    var allowPrivateNetwork: Bool

    /// Throws a ``NonRetryableError``-worthy ``DeniedAddress`` when `host` resolves to a denied address.
    func check(host: String) async throws {
        guard !allowPrivateNetwork else { return }
        let name = Self.unbracketed(host)
        let addresses = try await NIOThreadPool.singleton.runIfActive { try Self.resolve(name) }
        for address in addresses {
            if let range = Self.deniedRange(address) {
                throw DeniedAddress(message: "\(host) resolves to \(Self.text(address)) (\(range)), which the worker refuses; "
                    + "pass --allow-private-network to allow it")
            }
        }
    }

    /// The denied range of `host` when it is a numeric address (`127.0.0.1`, `127.1`, `[::1]`), or
    /// `localhost` or a name under it (RFC 6761 reserves them for loopback): known without a
    /// lookup, so `spool worker` refuses it at start rather than dead-lettering every job. Any
    /// other name is checked before each request only, as its addresses may change.
    func deniedAtStart(host: String) -> String? {
        guard !allowPrivateNetwork else { return nil }
        let name = Self.unbracketed(host)
        let lowered = name.lowercased()
        let bare = lowered.hasSuffix(".") ? String(lowered.dropLast()) : lowered
        if bare == "localhost" || bare.hasSuffix(".localhost") { return "loopback" }
        var v4 = in_addr()
        // inet_aton, as getaddrinfo: `127.1`, `2130706433` and `0x7f.0.0.1` are 127.0.0.1 too
        if inet_aton(name, &v4) != 0 { return Self.deniedRange(withUnsafeBytes(of: v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 { return Self.deniedRange(withUnsafeBytes(of: v6) { Array($0) }) }
        return nil
    }

    /// `host` without the brackets a URL puts around an IPv6 address.
    static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// Every IPv4 (4 bytes) and IPv6 (16 bytes) address of `host`.
    static func resolve(_ host: String) throws -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw ResolveFailure(message: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr {
                switch Int32(raw.pointee.sa_family) {
                case AF_INET:
                    raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        addresses.append(withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) })
                    }
                case AF_INET6:
                    raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                        addresses.append(withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) })
                    }
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// The name of the denied range `address` falls in, or `nil` when it is allowed.
    static func deniedRange(_ address: [UInt8]) -> String? {
        if address.count == 4 { return deniedIPv4(address) }
        guard address.count == 16 else { return "unknown address family" }
        if address.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if address[0..<15].allSatisfy({ $0 == 0 }) && address[15] == 1 { return "loopback" }
        if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xff && address[11] == 0xff {
            return deniedIPv4(Array(address[12..<16]))  // IPv4-mapped
        }
        if address[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] {
            return deniedIPv4(Array(address[12..<16]))  // NAT64
        }
        if address[0..<12].allSatisfy({ $0 == 0 }) { return "reserved (IPv4-compatible IPv6)" }
        if address[0] == 0x20 && address[1] == 0x02 {
            return deniedIPv4(Array(address[2..<6])).map { "\($0), in 6to4" }
        }
        if address[0..<4] == [0x20, 0x01, 0x0d, 0xb8] { return "documentation" }
        if address[0] == 0xfe && address[1] & 0xc0 == 0x80 { return "link-local" }
        if address[0] & 0xfe == 0xfc { return "unique local (private)" }
        if address[0] == 0xff { return "multicast" }
        return nil
    }

    private static func deniedIPv4(_ a: [UInt8]) -> String? {
        switch (a[0], a[1], a[2]) {
        case (192, 0, 0): return "reserved (IETF protocol assignments)"
        case (192, 0, 2), (198, 51, 100), (203, 0, 113): return "documentation"
        case (198, 18...19, _): return "reserved (benchmarking)"
        default: break
        }
        switch (a[0], a[1]) {
        case (0, _): return "unspecified"
        case (10, _): return "private"
        case (100, 64...127): return "shared (CGNAT)"
        case (127, _): return "loopback"
        case (169, 254): return "link-local"
        case (172, 16...31): return "private"
        case (192, 168): return "private"
        case (224...239, _): return "multicast"
        case (240...255, _): return "reserved"
        default: return nil
        }
    }

    static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: address.count, by: 2)
            .map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}

/// The http handler refused an address (a permanent failure).
struct DeniedAddress: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A host name did not resolve (retryable: DNS may come back).
struct ResolveFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
