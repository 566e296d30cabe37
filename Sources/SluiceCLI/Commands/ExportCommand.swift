import ArgumentParser
import SluiceCore
import SluiceStore

/// `sluice export`: every record of one kind as JSON Lines that validate against `schema/`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Print every record of one kind as JSON Lines (see schema/).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "workers, patches, gates or costs.") var kind: String

    func run() async throws {
        let engine = try global.engine()
        let console = Console.current
        switch kind {
        case "workers": for record in try await engine.workers.list() { console.line(try SluiceJSON.line(record)) }
        case "patches": for record in try await engine.patches.list() { console.line(try SluiceJSON.line(record)) }
        case "gates": for record in try await engine.gates.list() { console.line(try SluiceJSON.line(record)) }
        case "costs": for record in try await engine.costs.list() { console.line(try SluiceJSON.line(record)) }
        default:
            throw SluiceError.invalidInput(
                "unknown value '\(kind)' for --kind; expected one of: workers, patches, gates, costs")
        }
    }
}

/// `sluice events`: the append-only event log.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print the event log, oldest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only events of this entity (the ULID of a worker, patch, gate or cost record).")
    var entity: String?
    @Option(help: "Only events after this sequence number.") var after: Int64 = 0
    @Option(help: "At most this many.") var limit: Int?

    func run() async throws {
        // Any kind of id, in the canonical form the log stores (lower case is accepted).
        let entityID = try entity.map { try Parse.ulid($0, option: "--entity").description }
        guard after >= 0 else { throw SluiceError.invalidInput("--after must be a sequence number ≥ 0, got \(after)") }
        let events = try await global.engine().events(entityID: entityID, after: after, limit: limit)
        try Output(global).list(
            events, empty: "no events",
            columns: [
                ("SEQ", { String($0.sequence) }), ("AT", { $0.at.description }), ("KIND", { $0.entityKind.rawValue }),
                ("ENTITY", { $0.entityID }), ("FROM", { $0.fromState ?? "-" }), ("TO", { $0.toState ?? "-" }),
                ("ACTOR", { $0.actor }), ("REASON", { $0.reason ?? "" }),
            ])
    }
}
