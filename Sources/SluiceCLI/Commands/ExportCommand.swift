import ArgumentParser
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice export`: every record of one kind as JSON Lines that validate against `schema/`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Print every record of one kind as JSON Lines (see schema/).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "workers, patches, gates, costs or tasks.") var kind: String

    func run() async throws {
        let engine = try await global.engine()
        let console = Console.current
        switch kind {
        case "workers": for record in try await engine.workers.list() { console.line(try SluiceJSON.line(record)) }
        case "patches": for record in try await engine.patches.list() { console.line(try SluiceJSON.line(record)) }
        case "gates": for record in try await engine.gates.list() { console.line(try SluiceJSON.line(record)) }
        case "costs": for record in try await engine.costs.list() { console.line(try SluiceJSON.line(record)) }
        case "tasks": for record in try await engine.tasks.list() { console.line(try SluiceJSON.line(record)) }
        default:
            throw SluiceError.invalidInput(
                "unknown value '\(kind)' for --kind; expected one of: workers, patches, gates, costs, tasks")
        }
    }
}

/// `sluice events`: the append-only event log.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print the event log, oldest first.")

    @OptionGroup var global: GlobalOptions
    @Option(
        help: ArgumentHelp(
            "Only events of this entity: the ULID of a worker, patch, gate, cost record or task, a budget's scope, "
                + "or a quarantined test as tests/<gate>/<test>.")
    )
    var entity: String?
    @Option(help: "Only events after this sequence number.") var after: Int64 = 0
    @Option(help: "At most this many (with --follow: stop after this many).") var limit: Int?
    @Flag(
        help: ArgumentHelp(
            "Keep printing events as they are written, one line each, until interrupted: every event exactly "
                + "once, in sequence order, whatever writes concurrently (on either backend)."))
    var follow = false
    @Option(help: "With --follow, seconds between looks at the log when nothing is new.")
    var interval: String = "0.2"

    func run() async throws {
        // Any kind of id, in the canonical form the log stores (lower case is accepted).
        let entityID = try entity.map { text in
            // A test's quarantine and release are filed under `tests/<gate>/<test>`, as given.
            if text.hasPrefix("tests/") { return text }
            // A budget's events are filed under its scope (`global`, `project:web`).
            if text == "global" || text.contains(":") {
                do {
                    return try BudgetScope(parsing: text).description
                } catch let error as SluiceError {
                    throw SluiceError.invalidInput("--entity: \(error.message)")
                }
            }
            return try Parse.ulid(text, option: "--entity").description
        }
        guard after >= 0 else { throw SluiceError.invalidInput("--after must be a sequence number ≥ 0, got \(after)") }
        let engine = try await global.engine()
        if follow {
            let pause = try Parse.seconds(interval, option: "--interval")
            guard pause >= 0.001, pause <= 60 else {
                throw SluiceError.invalidInput("--interval must be from 0.001 to 60 seconds, got \(interval)")
            }
            try await followEvents(engine, entityID: entityID, pause: pause)
            return
        }
        let events = try await engine.events(entityID: entityID, after: after, limit: limit)
        try Output(global).list(
            events, empty: "no events",
            columns: [
                ("SEQ", { String($0.sequence) }), ("AT", { $0.at.description }), ("KIND", { $0.entityKind.rawValue }),
                ("ENTITY", { $0.entityID }), ("FROM", { $0.fromState ?? "-" }), ("TO", { $0.toState ?? "-" }),
                ("ACTOR", { $0.actor }), ("REASON", { $0.reason ?? "" }),
            ])
    }

    /// Prints events after `after` as they appear: the log's cursor never skips, so asking again with
    /// the last sequence printed gives every event once.
    private func followEvents(_ engine: Engine, entityID: String?, pause: Double) async throws {
        try SluiceError.checkLimit(limit)
        var cursor = after
        var printed = 0
        let output = Output(global)
        while !Task.isCancelled {
            let batch = try await engine.events(
                entityID: entityID, after: cursor, limit: min(500, limit.map { $0 - printed } ?? 500))
            for event in batch {
                Console.current.line(
                    output.json
                        ? try SluiceJSON.line(event)
                        : [
                            String(event.sequence), event.at.description, event.entityKind.rawValue, event.entityID,
                            "\(event.fromState ?? "-") → \(event.toState ?? "-")", event.actor, event.reason ?? "",
                        ].joined(separator: "  "))
                cursor = event.sequence
                printed += 1
            }
            if let limit, printed >= limit { return }
            if batch.isEmpty { try await Task.sleep(for: .seconds(pause)) }
        }
    }
}
