extension RedisServer {
    /// How to configure the private `redis-server`.
    public struct Options: Sendable {
        /// Also listen on a unix socket in the data directory. Defaults to `false`
        /// (TCP on 127.0.0.1 only).
        public var unixSocket: Bool
        /// Persist with an append-only file in the data directory. Defaults to `false`
        /// (no persistence at all).
        public var appendOnly: Bool
        /// The `appendfsync` policy when `appendOnly` is on. Defaults to `"always"`.
        public var appendFsync: String
        /// The `requirepass` password. Defaults to `nil` (no authentication).
        ///
        /// It is written to a private config file, never put on a command line.
        public var password: String?
        /// Extra `redis-server` arguments, appended last so they win, e.g.
        /// `["--maxmemory", "10mb"]`. Defaults to none.
        public var extraArguments: [String]
        /// Also listen for TLS on a second free port (``RedisServer/tlsPort``), with these
        /// files. Defaults to `nil`. The plaintext port stays open: the readiness probe uses it.
        public var tls: TLS?
        /// Run as a Redis Cluster node (`cluster-enabled yes`, `nodes.conf` in the data
        /// directory) with its cluster bus on another free port (``RedisServer/clusterBusPort``).
        /// Defaults to `false`. ``RedisCluster`` joins such nodes into a cluster.
        public var clusterEnabled: Bool
        /// The addresses to listen on; the first is ``RedisServer/host``. Defaults to
        /// `["127.0.0.1"]`.
        public var bindAddresses: [String] = ["127.0.0.1"]
        /// The network namespace to run in (`ip netns exec NAME redis-server …`), e.g. one made
        /// by ``NetworkNamespace``. Defaults to `nil` (the caller's namespace).
        public var networkNamespace: String?

        /// Creates options; every default gives a throwaway, in-memory server.
        public init(
            unixSocket: Bool = false,
            appendOnly: Bool = false,
            appendFsync: String = "always",
            password: String? = nil,
            extraArguments: [String] = [],
            tls: TLS? = nil,
            clusterEnabled: Bool = false
        ) {
            self.tls = tls
            self.clusterEnabled = clusterEnabled
            self.unixSocket = unixSocket
            self.appendOnly = appendOnly
            self.appendFsync = appendFsync
            self.password = password
            self.extraArguments = extraArguments
        }
    }
}

extension RedisServer.Options {
    /// The server side of TLS: its certificate and key, and the CA that client certificates
    /// must chain to.
    public struct TLS: Sendable {
        /// The server's PEM certificate (`--tls-cert-file`).
        public var certificateFile: String
        /// The server's PEM private key (`--tls-key-file`).
        public var keyFile: String
        /// The CA file for client certificates (`--tls-ca-cert-file`).
        public var caFile: String
        /// Whether clients must present a certificate (`--tls-auth-clients`). Defaults to `false`.
        public var requireClientCertificates: Bool

        /// Creates TLS settings.
        public init(certificateFile: String, keyFile: String, caFile: String, requireClientCertificates: Bool = false) {
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.caFile = caFile
            self.requireClientCertificates = requireClientCertificates
        }
    }
}

/// The files of one server in its data directory, and the command line that uses them.
struct ServerLayout: Sendable {
    var directory: String
    var options: RedisServer.Options

    var configPath: String { directory + "/redis.conf" }
    var logPath: String { directory + "/redis.log" }
    var outputPath: String { directory + "/redis.out" }
    var socketPath: String? { options.unixSocket ? directory + "/redis.sock" : nil }

    /// The config file: only what must stay off the command line (the password).
    var configFile: String {
        var text = "# Written by SpoolTesting.RedisServer; settings are on the command line.\n"
        if let password = options.password {
            text += "requirepass \(Self.quoted(password))\n"
        }
        return text
    }

    /// The `redis-server` arguments (after the executable) for listening on `port`.
    func arguments(port: Int, tlsPort: Int?, clusterBusPort: Int? = nil) -> [String] {
        var arguments = [
            configPath,
            "--port", String(port),
            "--bind",
        ] + options.bindAddresses + [
            "--dir", directory,
            "--save", "",
            "--appendonly", options.appendOnly ? "yes" : "no",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", logPath,
        ]
        if options.appendOnly {
            arguments += ["--appendfsync", options.appendFsync]
        }
        if let socketPath {
            arguments += ["--unixsocket", socketPath, "--unixsocketperm", "700"]
        }
        if let tls = options.tls, let tlsPort {
            arguments += [
                "--tls-port", String(tlsPort),
                "--tls-cert-file", tls.certificateFile,
                "--tls-key-file", tls.keyFile,
                "--tls-ca-cert-file", tls.caFile,
                "--tls-auth-clients", tls.requireClientCertificates ? "yes" : "no",
            ]
        }
        if options.clusterEnabled, let clusterBusPort {
            arguments += ["--cluster-enabled", "yes", "--cluster-port", String(clusterBusPort)]
        }
        return arguments + options.extraArguments
    }

    /// A redis.conf double-quoted string with every byte hex-escaped (`"\x70..."`).
    static func quoted(_ value: String) -> String {
        let hex = Array("0123456789abcdef")
        var text = "\""
        for byte in value.utf8 {
            text += "\\x" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xf)])
        }
        return text + "\""
    }
}
