import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice patch …`: the PatchLedger. These verbs record outcomes decided elsewhere.
struct PatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch", abstract: "Record patches and their way through validation, the queue, gates and commit.",
        subcommands: [
            Submit.self, Revert.self, Approve.self, Promote.self, Create.self, Show.self, History.self, List.self,
            Validate.self,
            Queue.self,
            Apply.self, Verify.self, Commit.self, Rollback.self, Quarantine.self, Drop.self,
        ])

    /// - Parameter priority: a submitted patch's priority (nil for a patch without a diff).
    static func describe(_ entry: PatchLedgerEntry, priority: PatchPriority? = nil) -> String {
        var pairs: [(String, String?)] = [
            ("ledger", entry.ledgerID.description), ("patch", entry.patchID.description),
            ("project", entry.projectID), ("workstream", entry.workstreamID), ("phase", entry.phaseID),
            ("state", entry.state.rawValue), ("priority", priority?.rawValue), ("created", entry.createdAt.description),
            ("updated", entry.updatedAt.description),
            (
                "checks",
                "format \(entry.validation.formatOK ? "ok" : "no"), scope \(entry.validation.scopeOK ? "ok" : "no"), "
                    + "constraints \(entry.validation.constraintsOK ? "ok" : "no"), tests "
                    + (entry.validation.testsRan ? (entry.validation.testsPassed ? "passed" : "failed") : "not run")
            ),
            ("apply attempts", String(entry.apply.attempts)), ("workspace", entry.apply.workspacePath),
        ]
        if let code = entry.apply.lastErrorCode {
            pairs.append(("last error", "\(code): \(entry.apply.lastErrorMessage ?? "")"))
        }
        if !entry.validation.validationErrors.isEmpty {
            pairs.append(("validation errors", entry.validation.validationErrors.joined(separator: "; ")))
        }
        if entry.quarantine.isQuarantined {
            pairs.append(
                (
                    "quarantined",
                    "\(entry.quarantine.quarantineReason ?? "") (\(entry.quarantine.quarantinePath ?? "no path"))"
                ))
        }
        if let original = entry.relations.rollbackOfPatchID { pairs.append(("reverts", original.description)) }
        return Output.fields(pairs)
    }

    /// The engine a verb that sets a patch aside by hand works with, once ``Pipeline/refuseIfLanded(_:_:)``
    /// found that the patch has not landed unrecorded (inside a repository; elsewhere there is no
    /// branch to ask).
    static func settingAside(_ global: GlobalOptions, _ id: String, _ verb: String) async throws -> Engine {
        guard let pipeline = try? await global.pipeline() else { return try await global.engine() }
        try await pipeline.refuseIfLanded(try Parse.id(id), verb)
        return pipeline.engine
    }

    /// Runs one transition and prints the entry after it; a rejected patch exits 1.
    static func transition(
        _ global: GlobalOptions, _ id: String, engine given: Engine? = nil,
        _ body: (PatchService, LedgerID) async throws -> PatchLedgerEntry
    ) async throws {
        let engine: Engine
        if let given { engine = given } else { engine = try await global.engine() }
        let entry = try await body(engine.patches, try Parse.id(id))
        let last = entry.stateHistory.last
        let reason = last?.reason.map { " (\($0))" } ?? ""
        try Output(global).record(entry, "patch \(entry.ledgerID) is now \(entry.state.rawValue)\(reason)")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a ledger entry (state: created).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The project the patch belongs to.") var project: String
        @Option(help: "A ULID for the patch (default: a new one).") var patchId: String?
        @Option(help: "The phase id.") var phase: String?
        @Option(help: "The workstream id.") var workstream: String?
        @Option(help: "The execution request's ULID.") var request: String?

        func run() async throws {
            let patchID: PatchID? = try Parse.optionalID(patchId)
            let request: ExecutionRequestID? = try Parse.optionalID(request)
            let entry = try await global.engine().patches.create(
                project: project, patchID: patchID, phase: phase, workstream: workstream, request: request)
            try Output(global).record(entry, "created patch \(entry.ledgerID) (patch id \(entry.patchID))")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one ledger entry (by ledger or patch id).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Flag(help: "Print the submitted diff itself, byte for byte.") var diff = false

        func run() async throws {
            let engine = try await global.engine()
            let entry = try await engine.patches.get(try Parse.id(id))
            let source = try await engine.context.storage.patchSource(entry.ledgerID)
            if diff {
                guard let source else {
                    throw SluiceError.notFound("submitted diff for patch", entry.ledgerID.description)
                }
                Console.current.raw(source.bytes)
                return
            }
            try Output(global).record(entry, PatchCommand.describe(entry, priority: source?.priority))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an entry's state history.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String

        func run() async throws {
            let entry = try await global.engine().patches.get(try Parse.id(id))
            try Output(global).list(
                entry.stateHistory, empty: "no history",
                columns: [
                    ("AT", { $0.at.description }), ("STATE", { $0.state.rawValue }), ("REASON", { $0.reason ?? "" }),
                ])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List ledger entries, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this project.") var project: String?
        @Option(help: "Only this state.") var state: String?
        @Option(help: "Only this workstream.") var workstream: String?
        @Option(help: "At most this many (the newest).") var limit: Int?

        func run() async throws {
            let state: PatchState? = try Parse.optionalEnumeration(state, option: "--state")
            let entries = try await global.engine().patches.list(
                PatchFilter(projectID: project, state: state, workstreamID: workstream, limit: limit))
            try Output(global).list(
                entries, empty: "no patches",
                columns: [
                    ("LEDGER", { $0.ledgerID.description }), ("PROJECT", { $0.projectID }),
                    ("STATE", { $0.state.rawValue }), ("WORKSTREAM", { $0.workstreamID ?? "-" }),
                    ("UPDATED", { $0.updatedAt.description }),
                ])
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the checks: → validated when all pass, else → apply_failed (exit 1).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Flag(help: "The diff is well formed.") var formatOk = false
        @Flag(help: "Every path is in scope.") var scopeOk = false
        @Flag(help: "The patch keeps the constraints.") var constraintsOk = false
        @Option(help: "A validation error (repeatable).") var error: [String] = []

        func run() async throws {
            try await PatchCommand.transition(global, id) {
                try await $0.validate(
                    $1, formatOK: formatOk, scopeOK: scopeOk, constraintsOK: constraintsOk, errors: error)
            }
            if !(formatOk && scopeOk && constraintsOk) { throw reportFailure() }
        }
    }

    struct Queue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a validated patch (or retry a failed one).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String

        func run() async throws { try await PatchCommand.transition(global, id) { try await $0.queue($1) } }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a validated patch held for review (or with --hold): it is queued, with you on record.",
            discussion: """
                A patch that changes a review path (a gate's script, its runner's configuration, .gitattributes, \
                .gitmodules, a gitlink, or what policy.review lists) is validated and held until a person approves \
                it. The approval is an event whose actor is NAME; an approved patch is also exempt from the check \
                that tests which passed on the target branch still run.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Option(help: "Who approves it (recorded as the event's actor).") var by: String

        func run() async throws {
            let entry = try await global.engine().patches.approve(try Parse.id(id), by: by)
            try Output(global).record(entry, "patch \(entry.ledgerID) approved by \(by): now \(entry.state.rawValue)")
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change how soon `sluice run` takes a submitted patch (default: to urgent, ahead of the rest).",
            discussion: """
                `sluice run` takes queued patches by priority (urgent, high, normal, low), then oldest first. The \
                change is an event on the patch, with --by as its actor when given; a patch that landed, ended or \
                is quarantined keeps its priority (exit 3).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Option(help: "The new priority: low, normal, high or urgent.") var to: String = "urgent"
        @Option(help: "Who changes it (recorded as the event's actor).") var by: String?

        func run() async throws {
            let priority: PatchPriority = try Parse.enumeration(to, option: "--to")
            let id: LedgerID = try Parse.id(id)
            let (entry, before) = try await global.engine().patches.prioritize(id, priority, by: by)
            let said =
                before == priority
                ? "patch \(entry.ledgerID) is already \(priority.rawValue)"
                : "patch \(entry.ledgerID): priority \(before.rawValue) → \(priority.rawValue)"
            try Output(global).record(
                Promoted(
                    ledgerID: entry.ledgerID.description, state: entry.state.rawValue, priority: priority.rawValue,
                    previous: before.rawValue, changed: before != priority), said + " (\(entry.state.rawValue))")
        }

        /// What `--json` prints: the patch's priority now and before.
        struct Promoted: Encodable {
            let ledgerID: String
            let state: String
            let priority: String
            let previous: String
            let changed: Bool

            enum CodingKeys: String, CodingKey {
                case state, priority, previous, changed
                case ledgerID = "ledger_id"
            }
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record an application attempt: --ok with the workspace and files, or --failed with the error.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Flag(help: "The patch applied.") var ok = false
        @Flag(help: "The patch did not apply.") var failed = false
        @Option(help: "Where it was applied.") var workspace: String?
        @Option(help: "A file it changed (repeatable).") var file: [String] = []
        @Option(help: "Why it failed, as a code.") var errorCode: String?
        @Option(help: "Why it failed, in words.") var errorMessage: String?

        func validate() throws {
            guard ok != failed else { throw ValidationError("give exactly one of --ok and --failed") }
            if ok, workspace == nil { throw ValidationError("--ok needs --workspace") }
            if failed, errorCode == nil || errorMessage == nil {
                throw ValidationError("--failed needs --error-code and --error-message")
            }
        }

        func run() async throws {
            if ok {
                try await PatchCommand.transition(global, id) {
                    try await $0.applied($1, workspace: workspace!, files: file)
                }
            } else {
                try await PatchCommand.transition(global, id) {
                    try await $0.applyFailed($1, code: errorCode!, message: errorMessage!)
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the test outcome: --passed → verified, --failed → apply_failed.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Flag(help: "The tests passed.") var passed = false
        @Flag(help: "The tests failed.") var failed = false
        @Option(help: "Why (recorded in the history).") var reason: String?

        func validate() throws {
            guard passed != failed else { throw ValidationError("give exactly one of --passed and --failed") }
        }

        func run() async throws {
            try await PatchCommand.transition(global, id) { try await $0.verify($1, passed: passed, reason: reason) }
        }
    }

    struct Commit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark a verified patch committed.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String

        func run() async throws { try await PatchCommand.transition(global, id) { try await $0.commit($1) } }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll back an applied or verified patch and discard its workspace.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Option(help: "Why.") var reason: String

        func run() async throws {
            let ledgerID: LedgerID = try Parse.id(id)
            let engine = try await PatchCommand.settingAside(global, id, "roll back")
            let current = try await engine.patches.get(ledgerID)
            let entry: PatchLedgerEntry
            // A workspace the pipeline made is a worktree whose `.git` file names its repository (older
            // versions kept it in <repository>/.sluice/workspaces/).
            if let workspace = current.apply.workspacePath, FileManager.default.fileExists(atPath: workspace),
                let repository = Pipeline.repository(ofWorkspace: workspace)
                    ?? workspace.range(of: "/.sluice/workspaces/").map({ String(workspace[..<$0.lowerBound]) })
            {
                entry = try await Pipeline(engine: engine, repository: repository).rollback(ledgerID, reason: reason)
            } else {
                entry = try await engine.patches.rollback(ledgerID, reason: reason)
            }
            try Output(global).record(entry, "patch \(entry.ledgerID) is now \(entry.state.rawValue) (\(reason))")
        }
    }

    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a patch aside with the reason.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Option(help: "Why.") var reason: String
        @Option(help: "Where the patch is kept.") var path: String?

        func run() async throws {
            let engine = try await PatchCommand.settingAside(global, id, "quarantine")
            try await PatchCommand.transition(global, id, engine: engine) {
                try await $0.quarantine($1, reason: reason, path: path)
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Abandon a patch.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The ledger id or patch id.") var id: String
        @Option(help: "Why.") var reason: String

        func run() async throws {
            let engine = try await PatchCommand.settingAside(global, id, "drop")
            try await PatchCommand.transition(global, id, engine: engine) { try await $0.drop($1, reason: reason) }
        }
    }
}
