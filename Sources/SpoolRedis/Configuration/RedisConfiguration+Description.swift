/// A configuration prints as its redacted URL and settings, never its password: with
/// `print(configuration)`, string interpolation, `debugPrint` or `dump` alike.
extension RedisConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `RedisConfiguration(redis://app:***@host:6379, connectTimeout: 2.0 seconds, ...)`.
    public var description: String {
        var settings = [
            redactedURL,
            "connectTimeout: \(connectTimeout)",
            "commandTimeout: \(commandTimeout)",
            "clientName: \(clientName.map { "\"\($0)\"" } ?? "nil")",
            "poolSize: \(poolSize)",
            "maxIdleDedicatedConnections: \(maxIdleDedicatedConnections)",
            "reconnectBaseDelay: \(reconnectBaseDelay)",
            "reconnectMaxDelay: \(reconnectMaxDelay)",
        ]
        if let tls { settings.append("tls: \(tls)") }
        if let cluster { settings.append("cluster: \(cluster.seeds.count) seeds, maxAttempts \(cluster.maxAttempts)") }
        return "RedisConfiguration(" + settings.joined(separator: ", ") + ")"
    }

    /// The same as ``description``: the password is never shown.
    public var debugDescription: String { description }

    /// The fields, with the password shown as `***` (for `dump` and debuggers).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "address": address,
            "username": username as Any,
            "password": (password == nil ? nil : "***") as String? as Any,
            "database": database,
            "connectTimeout": connectTimeout,
            "commandTimeout": commandTimeout,
            "clientName": clientName as Any,
            "poolSize": poolSize,
            "maxIdleDedicatedConnections": maxIdleDedicatedConnections,
            "reconnectBaseDelay": reconnectBaseDelay,
            "reconnectMaxDelay": reconnectMaxDelay,
            "tls": tls as Any,
            "cluster": cluster as Any,
        ], displayStyle: .struct)
    }
}
