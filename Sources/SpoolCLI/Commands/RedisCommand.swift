import ArgumentParser

/// `spool redis start|stop`: manages the private `redis-server` under `./.spool/`.
struct PrivateRedisCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Manage the private redis-server that spool starts under ./.spool/ when no Redis URL is given.",
        subcommands: [Start.self, Stop.self]
    )

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start (or reuse) the private Redis and print its URL.")

        func run() throws {
            print(try PrivateRedis(directory: PrivateRedis.defaultDirectory()).startOrReuse(announce: false, wait: .seconds(10)))
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the private Redis of this directory (its data stays).")

        func run() throws {
            let redis = PrivateRedis(directory: PrivateRedis.defaultDirectory())
            switch try redis.stop() {
            case .stopped(let pid):
                print("stopped the private Redis (pid \(pid)) at \(redis.url)")
            case .notRunning:
                print("no private Redis is running in \(redis.directory)")
            case .staleFileRemoved:
                print("no private Redis is running in \(redis.directory) (stale pid file removed)")
            }
        }
    }
}
