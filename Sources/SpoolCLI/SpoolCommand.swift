import ArgumentParser

@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "A Redis-backed job queue for server-side Swift."
    )
}
