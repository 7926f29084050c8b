import Testing

@testable import Spool

@Suite struct QueueKeysTests {
    let group = try! GroupName("billing")

    @Test func defaultLayout() throws {
        let keys = QueueKeys(queue: try QueueName("emails"))
        #expect(keys.prefix == "spool")
        #expect(keys.stream == "spool:{emails}:stream")
        #expect(keys.retry(group) == "spool:{emails}:retry:billing")
        #expect(keys.scheduled(group) == "spool:{emails}:sched:billing")
        #expect(keys.dead(group) == "spool:{emails}:dead:billing")
        #expect(keys.done(group) == "spool:{emails}:done:billing")
        #expect(keys.delayed == "spool:{emails}:delayed")
        #expect(keys.dedupKey("order-42") == "spool:{emails}:unique:order-42")
        #expect(keys.meta == "spool:{emails}:meta")
        #expect(keys.heartbeat(group, consumer: "host-1-ab") == "spool:{emails}:hb:billing:host-1-ab")
        #expect(keys.registry == "spool:queues")
        #expect(QueueKeys.registry() == "spool:queues")
    }

    @Test(arguments: ["spool", "app1:spool", "x"])
    func everyQueueKeyCarriesPrefixAndExactlyOneHashTag(prefix: String) throws {
        let keys = try QueueKeys(queue: try QueueName("order.placed"), prefix: prefix)
        let perQueue = [
            keys.stream, keys.retry(group), keys.scheduled(group), keys.dead(group),
            keys.done(group), keys.delayed, keys.dedupKey("k{x}"),
            keys.meta, keys.heartbeat(group, consumer: "c"),
        ]
        for key in perQueue {
            #expect(key.hasPrefix("\(prefix):{order.placed}:"), "\(key)")
            #expect(Self.hashTag(of: key) == "order.placed", "\(key)")
        }
        #expect(Set(perQueue).count == perQueue.count)
        #expect(keys.registry == "\(prefix):queues")
        #expect(!keys.registry.contains("{"))
    }

    @Test(arguments: ["", "a{b}", "with space"])
    func rejectsBadPrefixes(prefix: String) {
        #expect {
            _ = try QueueKeys(queue: try QueueName("q"), prefix: prefix)
        } throws: { error in
            (error as? SpoolError)?.code == .invalidArgument
        }
    }

    /// The hash tag Redis Cluster uses: text between the first `{` and the next `}`, if non-empty.
    static func hashTag(of key: String) -> Substring? {
        guard let open = key.firstIndex(of: "{") else { return nil }
        let rest = key[key.index(after: open)...]
        guard let close = rest.firstIndex(of: "}"), close > rest.startIndex else { return nil }
        return rest[..<close]
    }
}
