import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension PrivateRedis {
    /// The entries that `spool` and its `redis-server` open, create or replace in `.spool`.
    static let entries = ["lock", "redis.conf", "redis.log", "redis.pid", "redis.sock", "appendonlydir"]

    /// Makes `.spool` (mode 0700) unless it exists, then checks that it is safe to use.
    func prepareDirectory() throws {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw CLIError(
                "no Redis given (--redis or $SPOOL_REDIS_URL), and cannot create \(directory) for a private one: "
                    + "\(error.localizedDescription) Pass --redis URL, or run from a writable directory"
            )
        }
        try checkDirectory()
    }

    /// Refuses a `.spool` another user could have prepared: the server's config, log and data
    /// live there, and whoever controls it controls what `spool` and `redis-server` write
    /// (a `redis.log` linked to a file of root's, for a root `spool`).
    ///
    /// - Throws: unless `.spool` is a real directory (not a symbolic link) owned by the
    ///   effective user with no group or other permissions, and each of ``entries`` in it
    ///   that exists is owned by that user and is no symbolic link.
    func checkDirectory() throws {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw CLIError("cannot examine \(directory): \(String(cString: strerror(errno)))")
        }
        let user = geteuid()
        if info.st_mode & S_IFMT == S_IFLNK {
            throw CLIError("\(directory) is a symbolic link, and the private Redis needs a directory of your own: "
                + "remove the link (spool makes the directory), or pass --redis URL")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw CLIError("\(directory) is not a directory: remove it (spool makes the directory), or pass --redis URL")
        }
        guard info.st_uid == user else {
            throw CLIError("\(directory) belongs to uid \(info.st_uid), not to you (uid \(user)), so its files cannot be "
                + "trusted: remove it (spool makes a new one), or pass --redis URL")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CLIError("\(directory) is open to other users (mode 0\(String(info.st_mode & 0o777, radix: 8))): "
                + "chmod 700 \(directory) if no one else put files in it, else remove it")
        }
        for name in Self.entries {
            let path = directory + "/" + name
            guard lstat(path, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFLNK {
                throw CLIError("\(path) is a symbolic link, which spool and redis-server would write through: remove it")
            }
            guard info.st_uid == user else {
                throw CLIError("\(path) belongs to uid \(info.st_uid), not to you (uid \(user)): remove it")
            }
        }
    }

    /// Writes `text` to `path` (mode 0600), never through a symbolic link.
    func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            written += count
        }
    }
}
