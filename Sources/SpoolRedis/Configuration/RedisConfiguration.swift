/// Where a Redis server listens.
public enum RedisAddress: Sendable, Hashable, CustomStringConvertible {
    /// A TCP host and port.
    case tcp(host: String, port: Int)
    /// A unix domain socket path.
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port):
            return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path):
            return path
        }
    }
}

/// How a ``RedisClient`` connects: address, credentials, database, timeouts and pool size.
public struct RedisConfiguration: Sendable {
    /// The server address.
    public var address: RedisAddress
    /// The ACL user name; `nil` authenticates as `default` (or not at all without a password).
    /// A name is always authenticated as, with an empty password when ``password`` is `nil`
    /// (a `nopass` user works; a user with a password is refused with `authenticationFailed`),
    /// never silently replaced by `default`.
    public var username: String?
    /// The password; never printed. `nil` means no AUTH, unless ``username`` is set.
    public var password: String?
    /// The logical database selected after connecting. Defaults to 0.
    public var database: Int
    /// How long a connect may take. Defaults to 2 seconds. A host name's lookup before it
    /// may take as long, but at least 10 seconds (a lost DNS packet costs about 5), and then
    /// the connect fails: glibc's own wait, without that bound, could last minutes. (With TLS,
    /// SwiftNIO counts the lookup in this timeout.) Must be more than zero (see
    /// ``validate()``); a positive value under a microsecond counts as one.
    public var connectTimeout: Duration
    /// How long to wait for a reply before the connection is declared broken. Defaults to 5
    /// seconds. Must be more than zero (see ``validate()``): the socket has no "wait forever"
    /// here; a positive value under a microsecond counts as one.
    public var commandTimeout: Duration
    /// The name set with CLIENT SETNAME after each connect. Defaults to `spool`.
    public var clientName: String?
    /// Shared, auto-pipelined connections (each with its own thread, or driven by a worker's
    /// own thread: `dedicatedThread`). Defaults to 1.
    public var poolSize: Int
    /// Idle dedicated connections kept for blocking commands. Defaults to 4.
    public var maxIdleDedicatedConnections: Int
    /// First delay before reconnecting after a failed connect. Defaults to 50 ms.
    public var reconnectBaseDelay: Duration
    /// Cap of the exponential reconnect delay. Defaults to 2 seconds.
    public var reconnectMaxDelay: Duration
    /// TLS for a TCP address (`rediss://`). Defaults to `nil` (plaintext). A connection with
    /// TLS set never falls back to plaintext; TLS over a unix socket is refused.
    public var tls: TLSOptions?
    /// Redis Cluster mode (`redis-cluster://`): discover the cluster from these seeds and route
    /// each command by its key's hash slot. Defaults to `nil` (one server at ``address``).
    public var cluster: Cluster?

    /// Creates a configuration for an address.
    public init(
        address: RedisAddress,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = .seconds(2)
        self.commandTimeout = .seconds(5)
        self.clientName = "spool"
        self.poolSize = 1
        self.maxIdleDedicatedConnections = 4
        self.reconnectBaseDelay = .milliseconds(50)
        self.reconnectMaxDelay = .seconds(2)
        self.tls = nil
        self.cluster = nil
    }

    /// Parses `redis://[user[:password]@]host[:port][/db]`, its TLS form `rediss://...`,
    /// `unix:///path.sock[?db=N]`, or a cluster's seed nodes
    /// `redis-cluster://[user[:password]@]host:port[,host:port...]` (`rediss-cluster://` for TLS).
    ///
    /// `rediss://` takes query parameters for ``TLSOptions``: `ca=` (CA file), `cert=` and
    /// `key=` (client certificate for mutual TLS), `sni=` (server name), `verify=no`.
    ///
    /// - Parameter password: used when the URL carries none (e.g. from `SPOOL_REDIS_PASSWORD`).
    /// - Throws: ``RedisError`` with code `invalidURL`; the message never repeats the password.
    public init(url: String, password: String? = nil) throws(RedisError) {
        let parsed = try RedisURL.parse(url)
        self.init(
            address: parsed.address,
            username: parsed.username,
            password: parsed.password ?? password,
            database: parsed.database
        )
        self.tls = parsed.tls
        self.cluster = parsed.clusterSeeds.map { Cluster(seeds: $0) }
    }

    /// Checks the settings a connection cannot work with. A ``RedisClient`` checks them
    /// before each connect and fails every command with this error while one is wrong.
    ///
    /// - Throws: ``RedisError`` with code `invalidConfiguration` when ``connectTimeout`` or
    ///   ``commandTimeout`` is zero or negative (a socket timeout of zero means none: a dead
    ///   server would hang every command).
    public func validate() throws(RedisError) {
        for (name, value) in [("connectTimeout", connectTimeout), ("commandTimeout", commandTimeout)] where value <= .zero {
            throw RedisError(
                code: .invalidConfiguration,
                message: "\(name) must be more than zero, not \(value) (e.g. .seconds(5))",
                address: redactedURL
            )
        }
    }

    /// The address as a URL with the password replaced by `***`, safe to log. A user name
    /// without a password is hidden too (`***@`), as ``RedisURL`` hides it: redis-cli reads
    /// `redis://SECRET@host` as a password.
    public var redactedURL: String {
        var userinfo = ""
        if let username {
            userinfo = password == nil ? "***@" : RedisURL.percentEncode(username) + ":***@"
        } else if password != nil {
            userinfo = ":***@"
        }
        if let cluster {
            return "redis\(tls == nil ? "" : "s")-cluster://\(userinfo)"
                + cluster.seeds.map(\.description).joined(separator: ",")
        }
        switch address {
        case .tcp:
            let db = database == 0 ? "" : "/\(database)"
            return "redis\(tls == nil ? "" : "s")://\(userinfo)\(address)\(db)"
        case .unix(let path):
            let db = database == 0 ? "" : "?db=\(database)"
            return "unix://\(userinfo)\(path)\(db)"
        }
    }
}

extension RedisConfiguration {
    /// Redis Cluster settings: the seed nodes and how hard to try when the cluster is in flux.
    public struct Cluster: Sendable {
        /// Nodes to ask for the slot map (`CLUSTER SLOTS`); any reachable one is enough.
        public var seeds: [RedisAddress]
        /// How many times one command is sent before its error is returned: each MOVED, ASK,
        /// TRYAGAIN, CLUSTERDOWN or lost connection uses one. Defaults to 16.
        public var maxAttempts: Int
        /// The first wait after CLUSTERDOWN, TRYAGAIN or a lost connection, doubled on each
        /// further one. Defaults to 25 ms.
        public var retryBaseDelay: Duration
        /// The cap of that wait. Defaults to 500 ms; with the defaults one command keeps
        /// trying for about 6 seconds, longer than a failover with a small `cluster-node-timeout`.
        public var retryMaxDelay: Duration

        /// Creates cluster settings for these seed nodes.
        public init(seeds: [RedisAddress]) {
            self.seeds = seeds
            self.maxAttempts = 16
            self.retryBaseDelay = .milliseconds(25)
            self.retryMaxDelay = .milliseconds(500)
        }
    }
}
