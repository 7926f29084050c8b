import Testing

@testable import Spool

@Suite("QueueEntry: fields as the inspector lists them")
struct QueueEntryTests {
    static let id = "0190ff3c-5e4a-7b21-9c3d-4e5f60718293"

    @Test("an entry without enqueued_at and attempt gets their defaults: the id's time and 1")
    func defaultsFromTheJobID() {
        let entry = QueueEntry(entryID: "1-1", fields: ["v": "1", "id": Self.id, "type": "t"], payloadBytes: 0)
        #expect(entry.enqueuedAt == JobID(Self.id)!.timestamp)
        #expect(entry.attempt == 1)
    }

    @Test("fields the entry has win over the defaults; no job id, no defaults")
    func presentFieldsAndNoID() {
        let written = QueueEntry(
            entryID: "1-1", fields: ["id": Self.id, "enqueued_at": "5", "attempt": "3"], payloadBytes: 0
        )
        #expect(written.enqueuedAt == 5)
        #expect(written.attempt == 3)
        let foreign = QueueEntry(entryID: "1-1", fields: ["f": "v"], payloadBytes: 0)
        #expect(foreign.enqueuedAt == nil)
        #expect(foreign.attempt == nil)
    }
}
