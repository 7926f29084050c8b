import Testing

@testable import Spool

@Suite struct QueueNameTests {
    @Test(arguments: ["a", "order.placed", "A-Z_0:9", String(repeating: "q", count: 100)])
    func acceptsValidNames(raw: String) throws {
        #expect(try QueueName(raw).rawValue == raw)
        #expect(try GroupName(raw).description == raw)
    }

    @Test(arguments: [
        ("a b", #"invalid queue name "a b" (contains " "): use 1-100 characters of A-Z a-z 0-9 . _ : -"#),
        ("", #"invalid queue name "" (is empty): use 1-100 characters of A-Z a-z 0-9 . _ : -"#),
        ("{q}", #"invalid queue name "{q}" (contains "{"): use 1-100 characters of A-Z a-z 0-9 . _ : -"#),
        ("é", #"invalid queue name "\xC3\xA9" (contains "\xC3\xA9"): use 1-100 characters of A-Z a-z 0-9 . _ : -"#),
        (
            String(repeating: "q", count: 101),
            "invalid queue name \"\(String(repeating: "q", count: 40))…\" (is 101 characters long): "
                + "use 1-100 characters of A-Z a-z 0-9 . _ : -"
        ),
    ])
    func rejectsInvalidQueueNames(raw: String, message: String) {
        #expect {
            _ = try QueueName(raw)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .invalidQueueName && error?.message == message
        }
    }

    @Test(arguments: ["", "a b", "tab\t", "slash/", "star*", String(repeating: "g", count: 101)])
    func rejectsInvalidGroupNames(raw: String) {
        #expect {
            _ = try GroupName(raw)
        } throws: { error in
            let error = error as? SpoolError
            return error?.code == .invalidGroupName
                && error?.message.hasPrefix("invalid group name ") == true
                && error?.message.hasSuffix(": use 1-100 characters of A-Z a-z 0-9 . _ : -") == true
        }
    }

    @Test func defaultGroupIsDefault() {
        #expect(GroupName.default.rawValue == "default")
    }

    @Test func namesAreOrderedByRawValue() throws {
        #expect(try QueueName("a") < QueueName("b"))
        #expect(try GroupName("a.b") < GroupName("b"))
    }
}
