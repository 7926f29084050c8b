#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Finds the Redis binaries the fixture runs.
enum Executables {
    static let installHint = "install it with 'apt-get install redis-server redis-tools' or run Scripts/bootstrap.sh"

    /// The `redis-server` on PATH, else in /usr/bin or /usr/sbin.
    static func redisServer() throws(RedisServerError) -> String {
        guard let path = find("redis-server") else {
            throw RedisServerError(code: .serverNotFound, message: "redis-server not found: \(installHint)")
        }
        return path
    }

    /// The `redis-cli` on PATH, else in /usr/bin or /usr/sbin.
    static func redisCLI() throws(RedisServerError) -> String {
        guard let path = find("redis-cli") else {
            throw RedisServerError(code: .serverNotFound, message: "redis-cli not found: \(installHint)")
        }
        return path
    }

    /// `ip` (iproute2), for network namespaces.
    static func ip() throws(RedisServerError) -> String {
        guard let path = find("ip") else {
            throw RedisServerError(code: .serverNotFound, message: "ip (iproute2) not found: install it with 'apt-get install iproute2'")
        }
        return path
    }

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}
