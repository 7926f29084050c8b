#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A private network namespace joined to this one by veth pairs, for network partitions.
///
/// Each ``Link`` is a veth pair with a /30 of `10.201.0.0/16` that no interface on this
/// machine uses: the host end is `.1`, the namespace end `.2`. A server started in the
/// namespace (``RedisServer/Options/networkNamespace``) and bound to the namespace ends is
/// reached over the link a client dials. ``cut(_:)`` drops every packet on a link with
/// nftables inside the namespace (drop, not reject: connections hang, as when a cable is
/// pulled); ``restore(_:)`` removes the rule.
///
/// ``destroy()`` deletes the namespace, which takes its veth ends and nftables rules with it.
/// Namespaces left by a process that died are removed by the next ``create(links:)``, with
/// the processes still running in them (servers that process started there). Needs
/// root (CAP_NET_ADMIN), `ip` (iproute2) and `nft` (nftables); ``unavailableReason`` says
/// why not when it cannot work here.
public final class NetworkNamespace: Sendable {
    /// One veth pair between this namespace and the private one.
    public struct Link: Sendable {
        /// The interface on this side, e.g. `spf1234a0`.
        public var hostInterface: String
        /// The interface inside the namespace.
        public var namespaceInterface: String
        /// This side's address, e.g. `10.201.7.1`.
        public var hostAddress: String
        /// The namespace side's address, e.g. `10.201.7.2`: where a server in it listens.
        public var namespaceAddress: String
    }

    /// The namespace's name: `spoolnet-<pid>-<n>`.
    public let name: String
    /// Its links, in the order asked for.
    public let links: [Link]
    private let destroyed = Atomic<Bool>(false)

    static let prefix = "spoolnet-"
    private static let sequence = Atomic<Int>(0)

    private init(name: String, links: [Link]) {
        self.name = name
        self.links = links
    }

    deinit {
        destroy()
    }

    /// Why namespaces cannot be made here, or `nil` if they can (root, `ip` and `nft` found).
    public static var unavailableReason: String? {
        if geteuid() != 0 { return "creating a network namespace needs root (CAP_NET_ADMIN); running as uid \(geteuid())" }
        if Executables.find("ip") == nil { return "`ip` (iproute2) is not installed" }
        if Executables.find("nft") == nil { return "`nft` is not installed (apt-get install nftables, or Scripts/bootstrap.sh)" }
        return nil
    }

    /// Creates a namespace with `links` veth pairs, each on a /30 no local interface uses.
    ///
    /// - Throws: ``NetworkNamespaceError`` with ``NetworkNamespaceError/isUnavailable`` when
    ///   this machine cannot make namespaces, else the failing command and its output; what
    ///   was made is removed first.
    public static func create(links count: Int = 1) throws(NetworkNamespaceError) -> NetworkNamespace {
        if let reason = unavailableReason { throw NetworkNamespaceError(reason, unavailable: true) }
        removeStale()
        let serial = sequence.wrappingAdd(1, ordering: .relaxed).oldValue
        let name = "\(prefix)\(getpid())-\(serial)"
        do {
            try run(["netns", "add", name])
        } catch {
            throw NetworkNamespaceError("cannot create a network namespace: \(error.message)", unavailable: true)
        }
        var links: [Link] = []
        do {
            try run(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
            var used = try usedSubnets()
            for index in 0..<count {
                // interface names: at most 15 bytes
                let tag = "\(getpid() % 100_000)\(Character(UnicodeScalar(UInt8(97 + serial % 26))))\(index)"
                let subnet = try freeSubnet(avoiding: used)
                used.insert(subnet)
                let link = Link(
                    hostInterface: "spf\(tag)", namespaceInterface: "spn\(tag)",
                    hostAddress: "10.201.\(subnet / 64).\(subnet % 64 * 4 + 1)",
                    namespaceAddress: "10.201.\(subnet / 64).\(subnet % 64 * 4 + 2)"
                )
                try run(["link", "add", link.hostInterface, "type", "veth", "peer", "name", link.namespaceInterface])
                links.append(link)
                try run(["link", "set", link.namespaceInterface, "netns", name])
                try run(["addr", "add", link.hostAddress + "/30", "dev", link.hostInterface])
                try run(["link", "set", link.hostInterface, "up"])
                try run(["netns", "exec", name, "ip", "addr", "add", link.namespaceAddress + "/30", "dev", link.namespaceInterface])
                try run(["netns", "exec", name, "ip", "link", "set", link.namespaceInterface, "up"])
            }
        } catch {
            remove(name: name, hostInterfaces: links.map(\.hostInterface))
            throw error
        }
        return NetworkNamespace(name: name, links: links)
    }

    /// Drops every packet on link `index` in both directions, until ``restore(_:)``.
    public func cut(_ index: Int) throws(NetworkNamespaceError) {
        let interface = links[index].namespaceInterface
        let table = "spool_cut_\(index)"
        let rules = """
            table inet \(table) {
                chain input { type filter hook input priority -10; policy accept; iifname "\(interface)" drop; }
                chain output { type filter hook output priority -10; policy accept; oifname "\(interface)" drop; }
            }
            """
        try Self.run(["netns", "exec", name, "nft", "-f", "-"], input: rules)
    }

    /// Lets packets through link `index` again.
    public func restore(_ index: Int) throws(NetworkNamespaceError) {
        try Self.run(["netns", "exec", name, "nft", "delete", "table", "inet", "spool_cut_\(index)"])
    }

    /// Deletes the namespace (with its veth pairs and rules). Safe to call more than once.
    public func destroy() {
        guard !destroyed.exchange(true, ordering: .relaxed) else { return }
        Self.remove(name: name, hostInterfaces: links.map(\.hostInterface))
    }

    // MARK: - Helpers

    private static func remove(name: String, hostInterfaces: [String]) {
        _ = try? run(["netns", "delete", name])
        // Deleting the namespace destroys its veth ends and so their peers, asynchronously;
        // delete the host ends too in case a peer never moved into it.
        for interface in hostInterfaces {
            _ = try? run(["link", "delete", interface])
        }
    }

    /// Removes `spoolnet-<pid>-*` namespaces whose creating process is gone (it crashed or was
    /// killed), after killing what still runs inside (a redis-server this helper's caller
    /// started there): a namespace with processes in it would outlive its deletion.
    private static func removeStale() {
        guard let output = try? run(["netns", "list"]) else { return }
        for line in output.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count).split(separator: "-").first ?? "") else { continue }
            if pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH {
                let inside = (try? run(["netns", "pids", name])) ?? ""
                for orphan in inside.split(separator: "\n").compactMap({ Int32($0) }) where orphan > 1 {
                    _ = kill(orphan, SIGKILL)
                }
                _ = try? run(["netns", "delete", name])
            }
        }
    }

    /// The /30 blocks of 10.201.0.0/16 (numbered 0...16383) that some local address is in.
    private static func usedSubnets() throws(NetworkNamespaceError) -> Set<Int> {
        var used: Set<Int> = []
        for word in try run(["-4", "-o", "addr", "show"]).split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = word.split(separator: "/").first?.split(separator: ".").compactMap { Int($0) } ?? []
            if parts.count == 4 && parts[0] == 10 && parts[1] == 201 { used.insert(parts[2] * 64 + parts[3] / 4) }
        }
        return used
    }

    private static func freeSubnet(avoiding used: Set<Int>) throws(NetworkNamespaceError) -> Int {
        for _ in 0..<1_000 {
            let candidate = Int.random(in: 0..<16_384)
            if !used.contains(candidate) { return candidate }
        }
        throw NetworkNamespaceError("no free /30 in 10.201.0.0/16")
    }

    /// Runs `ip arguments…`; returns its output, throws with it when it fails.
    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws(NetworkNamespaceError) -> String {
        let process = Process()
        do {
            process.executableURL = URL(fileURLWithPath: try Executables.ip())
        } catch {
            throw NetworkNamespaceError(error.message, unavailable: true)
        }
        process.arguments = arguments
        // Files, not pipes: a child another test spawns at the same moment inherits open pipe
        // ends, and reading a pipe to its end then waits for that child to exit (it hung once).
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spool-ip-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(atPath: scratch.path + ".out")
            try? FileManager.default.removeItem(atPath: scratch.path + ".in")
        }
        _ = FileManager.default.createFile(atPath: scratch.path + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.path + ".in", contents: Data((input ?? "").utf8))
        guard let output = FileHandle(forWritingAtPath: scratch.path + ".out"),
              let stdin = FileHandle(forReadingAtPath: scratch.path + ".in")
        else { throw NetworkNamespaceError("ip \(arguments.joined(separator: " ")): cannot create its scratch files") }
        defer {
            try? output.close()
            try? stdin.close()
        }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        do {
            try process.run()
        } catch {
            throw NetworkNamespaceError("ip \(arguments.joined(separator: " ")): \(error)")
        }
        process.waitUntilExit()
        let data = FileManager.default.contents(atPath: scratch.path + ".out") ?? Data()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw NetworkNamespaceError("ip \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(text)")
        }
        return text
    }
}

/// A failure to make or change a ``NetworkNamespace``.
public struct NetworkNamespaceError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the command's output.
    public var message: String
    /// `true` when this machine cannot make namespaces at all (not root, tools missing).
    public var isUnavailable: Bool

    init(_ message: String, unavailable: Bool = false) {
        self.message = message
        self.isUnavailable = unavailable
    }

    public var description: String { message }
}
