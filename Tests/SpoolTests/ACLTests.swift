import Foundation
import Logging
import Spool
import SpoolRedis
import SpoolTesting
import Synchronization
import Testing

/// The ACL users of docs/operations.md, created from the doc's own lines.
struct DocumentedACL {
    static let password = "acl-test-password"

    /// The `ACL SETUSER` lines of the "Redis ACL users" section, by user name.
    static func rules() throws -> [String: [String]] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Redis ACL users").dropFirst().first?.components(separatedBy: "\n## ").first)
        var users: [String: [String]] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("ACL SETUSER ") {
            let words = line.split(separator: " ").dropFirst(2).map { $0 == ">CHANGE-ME" ? ">" + password : String($0) }
            users[words[0]] = words
        }
        return users
    }

    /// Creates the user from its documented line (as an administrator) and returns a client for it.
    static func client(_ user: String, on server: RedisServer) throws -> RedisClient {
        let arguments = try #require(try rules()[user], "docs/operations.md has no ACL SETUSER line for \(user)")
        #expect(!arguments.contains { $0.contains("@all") || $0.hasPrefix("allcommands") })
        _ = try server.cli(arguments: ["ACL", "SETUSER"] + arguments)
        return RedisClient(configuration: try RedisConfiguration(url: "redis://\(user):\(password)@127.0.0.1:\(server.port)"))
    }

    /// The commands `user` was refused so far, from `ACL LOG`.
    static func refusals(of user: String, on server: RedisServer) throws -> [String] {
        // raw redis-cli output: each entry is a flat list of field, value lines
        let lines = try server.cli("ACL", "LOG", "128").split(separator: "\n").map(String.init)
        var refused: [String] = []
        var index = 0
        var entryUser: String?
        var object: String?
        while index + 1 < lines.count {
            switch lines[index] {
            case "username": entryUser = lines[index + 1]
            case "object": object = lines[index + 1]
            default: break
            }
            if let name = entryUser, let what = object {
                if name == user { refused.append(what) }
                entryUser = nil
                object = nil
            }
            index += 2
        }
        return refused
    }
}

@Suite("ACL users from docs/operations.md")
struct ACLTests {
    @Test("the documented lines name commands, never +@all, and limit keys to ~spool:*")
    func documentedLines() throws {
        let rules = try DocumentedACL.rules()
        #expect(Set(rules.keys) == ["spool-producer", "spool-worker", "spool-inspector"])
        for (_, words) in rules {
            #expect(words.contains("reset") && words.contains("on") && words.contains("~spool:*"))
            #expect(words.filter { $0.hasPrefix("~") || $0.hasPrefix("%") } == ["~spool:*"])
            #expect(!words.contains { $0.contains("@") })
        }
    }

    @Test("the producer user pushes plain, delayed and deduplicated jobs, and nothing else")
    func producer() async throws {
        try await withRedisServer { server in
            let client = try DocumentedACL.client("spool-producer", on: server)
            defer { client.shutdown() }
            let producer = SpoolProducer(client: client, logger: Logger(label: "spool.test"))
            let queue = try QueueName("acl.produce")
            let keys = QueueKeys(queue: queue)
            try await producer.push(Greeting(name: "plain"), to: queue)
            try await producer.push([Greeting(name: "b1"), Greeting(name: "b2")], to: queue)
            try await producer.push(Greeting(name: "later"), to: queue, options: PushOptions(delay: .seconds(60)))
            let first = try await producer.push(Greeting(name: "once"), to: queue, options: PushOptions(dedupKey: "order-1"))
            let again = try await producer.push(Greeting(name: "once"), to: queue, options: PushOptions(dedupKey: "order-1"))
            #expect(again.isDuplicate && again.id == first.id)
            // a restart loses the scripts: the client must be allowed to load them again
            _ = try server.cli("SCRIPT", "FLUSH")
            try await producer.push(Greeting(name: "after flush"), to: queue, options: PushOptions(dedupKey: "order-2"))

            #expect(try server.cli("XLEN", keys.stream) == "5")
            #expect(try server.cli("ZCARD", keys.delayed) == "1")
            #expect(try server.cli("SMEMBERS", "spool:queues") == "acl.produce")
            #expect(try server.cli("CLIENT", "LIST").contains("user=spool-producer"))
            _ = try await client.send("PING")  // spool ping
            #expect(try DocumentedACL.refusals(of: "spool-producer", on: server).isEmpty)
            // the user is limited to Spool's keys and commands
            await #expect { try await client.send("SET", "other:key", "1") } throws: { ($0 as? RedisError)?.code == .noPermission }
            await #expect { try await client.send("FLUSHALL") } throws: { ($0 as? RedisError)?.code == .noPermission }
        }
    }

    @Test("the worker user runs jobs end to end: success, retry, dead letter, reclaim, delayed jobs, trimming")
    func worker() async throws {
        try await withRedisServer { server in
            let admin = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { admin.shutdown() }
            let client = try DocumentedACL.client("spool-worker", on: server)
            defer { client.shutdown() }
            let producer = SpoolProducer(client: admin, logger: Logger(label: "spool.test"))
            let queue = try QueueName("acl.work")
            let keys = QueueKeys(queue: queue)

            // a consumer that took a job and died (no heartbeat): the worker must reclaim it
            _ = try await admin.send("XGROUP", "CREATE", keys.stream, "default", "$", "MKSTREAM")
            let orphan = try await producer.push(Greeting(name: "orphan"), to: queue)
            _ = try await admin.send("XREADGROUP", "GROUP", "default", "ghost", "COUNT", "1", "STREAMS", keys.stream, ">")

            let recorder = Recorder()
            var configuration = SpoolWorker.Configuration()
            configuration.fetchBlockTime = .milliseconds(200)
            configuration.heartbeatInterval = .milliseconds(200)
            configuration.heartbeatTTL = .seconds(1)
            configuration.promoteInterval = .milliseconds(50)
            configuration.trimInterval = .milliseconds(200)
            configuration.maxStreamLength = 1_000
            configuration.metricsInterval = .milliseconds(200)
            var logger = Logger(label: "spool.test")
            logger.logLevel = .critical
            var worker = SpoolWorker(client: client, configuration: configuration, logger: logger)
            let strategy = RetryStrategy.fixed(maxAttempts: 2, delay: .milliseconds(20))
            worker.register(Greeting.self, queue: queue, retry: strategy) { job, context in
                recorder.record(context)
                if job.name == "flaky" && context.attempt == 1 { throw TestFailure("first try fails") }
                if job.name == "doomed" { throw TestFailure("always fails") }
            }
            try await running(worker) {
                let ok = try await producer.push(Greeting(name: "ok"), to: queue)
                let flaky = try await producer.push(Greeting(name: "flaky"), to: queue)
                let doomed = try await producer.push(Greeting(name: "doomed"), to: queue)
                let delayed = try await producer.push(Greeting(name: "delayed"), to: queue, options: PushOptions(delay: .milliseconds(100)))
                let deduplicated = try await producer.push(Greeting(name: "dedup"), to: queue, options: PushOptions(dedupKey: "k"))
                try await waitUntil("every job reached its end") {
                    let done = try await admin.send("ZCARD", keys.done(.default)).int ?? 0
                    let dead = try await admin.send("XLEN", keys.dead(.default)).int ?? 0
                    return done == 5 && dead == 1
                }
                let runs = Set(recorder.executions.map { "\($0.job)#\($0.attempt)" })
                for job in [ok, delayed, deduplicated] { #expect(runs.contains("\(job.id)#1")) }
                #expect(runs.contains("\(flaky.id)#2") && runs.contains("\(doomed.id)#2"))
                // reclaimed from the dead consumer: its delivery there counts as attempt 1
                #expect(runs.contains("\(orphan.id)#2"))
                #expect(try await admin.send("XPENDING", keys.stream, "default").array?.first == .integer(0))
                // the keeper's trim and group bookkeeping ran at least once meanwhile
                try await Task.sleep(for: .milliseconds(500))
            }
            let consumers = try server.cli("XINFO", "CONSUMERS", keys.stream, "default")
            #expect(!consumers.contains("ghost"), "the dead consumer was reclaimed and deleted")
            #expect(try DocumentedACL.refusals(of: "spool-worker", on: server).isEmpty)
        }
    }

    @Test("on a Redis Cluster the same lines, given to every node, let each user do its part")
    func cluster() async throws {
        try await QueueFixture.withCluster { fixture in
            let cluster = try #require(fixture.cluster)
            for node in cluster.nodes {
                for (_, words) in try DocumentedACL.rules() {
                    _ = try await cluster.command(node, ["ACL", "SETUSER"] + words)
                }
            }
            func client(_ user: String) throws -> RedisClient {
                let url = cluster.url.replacingOccurrences(of: "redis-cluster://", with: "redis-cluster://\(user):\(DocumentedACL.password)@")
                return RedisClient(configuration: try RedisConfiguration(url: url))
            }
            let producerClient = try client("spool-producer")
            defer { producerClient.shutdown() }
            let workerClient = try client("spool-worker")
            defer { workerClient.shutdown() }
            let inspectorClient = try client("spool-inspector")
            defer { inspectorClient.shutdown() }

            let queue = try QueueName("acl.cluster")
            let recorder = Recorder()
            var configuration = fixture.workerConfiguration()
            // no trim: the stream's length is checked below, and the first job, once done,
            // would be trimmed at a time of the worker's choosing
            configuration.trimInterval = .seconds(3600)
            var worker = SpoolWorker(client: workerClient, configuration: configuration, logger: fixture.logger)
            worker.register(Greeting.self, queue: queue) { _, context in recorder.record(context) }
            try await running(worker) {
                let inspector = SpoolInspector(client: inspectorClient)
                try await waitUntil("the group exists") { try await inspector.status(of: queue).groups.count == 1 }
                let job = try await SpoolProducer(client: producerClient, logger: fixture.logger).push(Greeting(name: "x"), to: queue)
                try await recorder.waitFor(1)
                try await waitUntil("the job shows done") {
                    try await inspector.job(queue: queue, id: "\(job.id)").groups.first?.state == .done
                }
                #expect(try await inspector.queues().map(\.queue) == ["acl.cluster"])
                for user in [producerClient, inspectorClient] { _ = try await user.send("PING") }

                // while the queue's slot migrates, its keys already moved: each user follows
                // ASK with ASKING (refused, the target answers MOVED back, over and over)
                let keys = QueueKeys(queue: queue)
                let slot = RedisHashSlot.of(keys.stream)
                let source = try await cluster.master(ofSlot: slot)
                let target = try await cluster.otherMaster(than: source)
                try await cluster.beginMigration(slot: slot, from: source, to: target)
                while try await cluster.migrateKeys(slot: slot, from: source, to: target) > 0 {}
                let asked = try #require(producerClient.clusterStatistics).asked
                let moving = try await SpoolProducer(client: producerClient, logger: fixture.logger).push(Greeting(name: "y"), to: queue)
                #expect(try #require(producerClient.clusterStatistics).asked > asked, "the push was not redirected with ASK")
                #expect(try await inspector.status(of: queue).length == 2)
                #expect(try await workerClient.send("XLEN", keys.stream) == .integer(2))
                try await cluster.finishMigration(slot: slot, from: source, to: target)
                try await recorder.waitFor(2)
                try await waitUntil("the job pushed during the migration shows done") {
                    try await inspector.job(queue: queue, id: "\(moving.id)").groups.first?.state == .done
                }
            }
        }
    }

    @Test("the inspector user reads queues, jobs and dead letters; replay and purge fail with noPermission")
    func inspector() async throws {
        try await withRedisServer { server in
            let admin = RedisClient(configuration: try RedisConfiguration(url: server.url))
            defer { admin.shutdown() }
            let client = try DocumentedACL.client("spool-inspector", on: server)
            defer { client.shutdown() }
            let queue = try QueueName("acl.inspect")
            let keys = QueueKeys(queue: queue)
            let producer = SpoolProducer(client: admin, logger: Logger(label: "spool.test"))
            let job = try await producer.push(Greeting(name: "x"), to: queue)
            _ = try await admin.send("XGROUP", "CREATE", keys.stream, "default", "0")
            _ = try await admin.send("XREADGROUP", "GROUP", "default", "w1", "COUNT", "1", "STREAMS", keys.stream, ">")
            _ = try await admin.send("XADD", keys.dead(.default), "*", "id", "\(job.id)", "type", "greeting", "dead_reason", "non_retryable")

            let inspector = SpoolInspector(client: client)
            let queues = try await inspector.queues()
            #expect(queues.map(\.queue) == ["acl.inspect"])
            let status = try await inspector.status(of: queue)
            #expect(status.length == 1 && status.groups.first?.pending == 1 && status.groups.first?.deadLetters == 1)
            #expect(try await inspector.deadLetters(queue: queue, group: .default).count == 1)
            _ = try await inspector.job(queue: queue, id: "\(job.id)")
            // a job that is not dead-lettered: its lookup reads the done sets (zmscore)
            let waiting = try await producer.push(Greeting(name: "y"), to: queue)
            #expect(try await inspector.job(queue: queue, id: "\(waiting.id)").groups.first?.state == .waiting)
            _ = try await client.send("PING")  // spool ping
            #expect(try DocumentedACL.refusals(of: "spool-inspector", on: server).isEmpty)

            for attempt in ["replay", "purge"] {
                await #expect {
                    if attempt == "replay" {
                        try await inspector.replayDeadLetters(queue: queue, group: .default)
                    } else {
                        try await inspector.purgeDeadLetters(queue: queue, group: .default)
                    }
                } throws: { error in
                    guard let error = error as? SpoolError, let redis = error.underlying as? RedisError else { return false }
                    return error.code == .redis && redis.code == .noPermission && "\(error)".contains("docs/operations.md")
                }
            }
            #expect(try server.cli("XLEN", keys.dead(.default)) == "1", "nothing was changed")
            // (the client asks to load the replay's script ahead of it, once per connection: refused too)
            #expect(Set(try DocumentedACL.refusals(of: "spool-inspector", on: server)) == ["evalsha", "xdel", "script|load"])
        }
    }
}
