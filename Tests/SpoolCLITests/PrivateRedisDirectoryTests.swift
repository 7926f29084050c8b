import Foundation
import Testing

/// A `.spool` directory another user could have prepared is refused, and nothing is started.
@Suite(.timeLimit(.minutes(2)))
struct PrivateRedisDirectoryTests {
    /// Runs `spool queues` in `directory` and expects one line `spool: <message>`, exit 1, and
    /// no private redis-server.
    private func expectRefused(in directory: String, _ message: String) async throws {
        let run = try await SpoolProcess.run(["queues"], in: directory)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr == "spool: \(message)\n")
        #expect(PrivateServers.running(in: directory).isEmpty)
    }

    @Test("a .spool open to other users (mode 0777) is refused, by redis stop too; chmod 700 as advised makes it usable")
    func aDirectoryOpenToOthers() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let spool = "\(directory)/.spool"
            #expect(mkdir(spool, 0o700) == 0 && chmod(spool, 0o777) == 0)
            let message = "\(spool) is open to other users (mode 0777): chmod 700 \(spool) if no one else put files in it, else remove it"
            try await expectRefused(in: directory, message)
            #expect(!FileManager.default.fileExists(atPath: "\(spool)/redis.conf"))
            let stop = try await SpoolProcess.run(["redis", "stop"], in: directory)
            #expect(stop.status == 1 && stop.stderr == "spool: \(message)\n", "\(stop.stderr)")

            #expect(chmod(spool, 0o700) == 0)
            let fixed = try await SpoolProcess.run(["enqueue", "q", "--data", "{}"], in: directory)
            #expect(fixed.status == 0, "\(fixed.stderr)")
        }
    }

    @Test(
        "a .spool that belongs to another user is refused (root only: chown)",
        .enabled(if: geteuid() == 0, "only root can give a directory to another user")
    )
    func aDirectoryOfAnotherUser() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let spool = "\(directory)/.spool"
            let nobody: uid_t = 65534
            #expect(mkdir(spool, 0o700) == 0 && chown(spool, nobody, gid_t(nobody)) == 0)
            try await expectRefused(in: directory, "\(spool) belongs to uid \(nobody), not to you (uid 0), so its files cannot "
                + "be trusted: remove it (spool makes a new one), or pass --redis URL")
            #expect(!FileManager.default.fileExists(atPath: "\(spool)/lock"))
        }
    }

    @Test("a .spool that is a symbolic link (to a directory of one's own) is refused")
    func aSymbolicLink() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let elsewhere = "\(directory)/elsewhere"
            #expect(mkdir(elsewhere, 0o700) == 0 && symlink(elsewhere, "\(directory)/.spool") == 0)
            try await expectRefused(in: directory, "\(directory)/.spool is a symbolic link, and the private Redis needs a "
                + "directory of your own: remove the link (spool makes the directory), or pass --redis URL")
            #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        }
    }

    @Test("a redis.log in .spool that is a symbolic link is refused: the server would append its log to the target")
    func aLinkedLog() async throws {
        try await PrivateServers.inTempDirectory { directory in
            let spool = "\(directory)/.spool"
            let target = "\(directory)/target"
            #expect(FileManager.default.createFile(atPath: target, contents: Data()))
            #expect(mkdir(spool, 0o700) == 0 && symlink(target, "\(spool)/redis.log") == 0)
            try await expectRefused(in: directory, "\(spool)/redis.log is a symbolic link, which spool and redis-server would write through: remove it")
            #expect(FileManager.default.contents(atPath: target)?.isEmpty == true)
        }
    }
}
