import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice gate …`: the TestGate.
struct GateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate", abstract: "Create quality gates, record their runs and decide.",
        subcommands: [Create.self, Start.self, Complete.self, Skip.self, Show.self, List.self])

    static func describe(_ gate: TestGateRecord) -> String {
        var pairs: [(String, String?)] = [
            ("gate", gate.gateID.description), ("name", gate.name), ("type", gate.gateType.rawValue),
            ("state", gate.state.rawValue), ("project", gate.projectID), ("command", gate.execution.command),
            ("exit code", gate.execution.exitCode.map(String.init)),
            ("duration", gate.execution.durationSeconds.map { "\($0) s" }),
        ]
        if let results = gate.results {
            pairs.append(
                (
                    "results",
                    "\(results.passedTests) passed, \(results.failedTests) failed, \(results.skippedTests) skipped of "
                        + "\(results.totalTests)" + (results.coveragePercent.map { "; coverage \($0)%" } ?? "")
                ))
        }
        if let decision = gate.decision {
            pairs.append(("decision", decision.reason))
            for (name, met) in decision.criteriaMet.sorted(by: { $0.key < $1.key }) {
                pairs.append(("  \(name)", met ? "met" : "not met"))
            }
        }
        return Output.fields(pairs)
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a pending gate with its criteria.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The gate's name.") var name: String
        @Option(help: "unit_tests, integration_tests, e2e_tests, security_scan, lint or custom.") var type: String
        @Option(help: "Minimum line coverage, 0–100.") var minCoverage: Double?
        @Option(help: "Most failed tests allowed (default 0).") var maxFailures: Int?
        @Option(name: .customLong("require"), help: "A test that must run and pass (repeatable).")
        var required: [String] = []
        @Option(help: "Seconds the check may run.") var timeout: Int?
        @Option(help: "The project.") var project: String?
        @Option(help: "The execution request's ULID.") var request: String?
        @Option(help: "Custom rules, a JSON object.") var customRules: String?
        @Option(help: "A JSON object kept with the gate.") var metadata: String?

        func run() async throws {
            let type: GateType = try Parse.enumeration(type, option: "--type")
            let request: ExecutionRequestID? = try Parse.optionalID(request)
            let criteria = GateCriteria(
                minCoverage: minCoverage, maxFailures: maxFailures, requiredTests: required, timeoutSeconds: timeout,
                customRules: try Parse.object(customRules, option: "--custom-rules"))
            let gate = try await global.engine().gates.create(
                name: name, type: type, project: project, request: request, criteria: criteria,
                metadata: try Parse.object(metadata, option: "--metadata"))
            try Output(global).record(gate, "created gate \(gate.gateID) (\(gate.name), pending)")
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a pending gate (→ running).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gate's id.") var id: String
        @Option(help: "The command that runs the check.") var command: String?

        func run() async throws {
            let gate = try await global.engine().gates.start(try Parse.id(id), command: command)
            try Output(global).record(gate, "gate \(gate.gateID) is running")
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Complete a running gate with its results; the criteria decide (exit 1 unless it passed).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gate's id.") var id: String
        @Option(help: "Results as JSON in the record's field names: a file, or - for standard input.")
        var results: String?
        @Option(help: "The check's exit code.") var exitCode: Int?

        func validate() throws {
            if results == nil && exitCode == nil { throw ValidationError("give --results, --exit-code or both") }
        }

        func run() async throws {
            let id: GateID = try Parse.id(id)
            var parsed: GateResults?
            if let results {
                let data = try Parse.contents(of: results, option: "--results")
                parsed = try SluiceJSON.decode(GateResults.self, from: data, what: "--results")
            }
            let exitCode = try Parse.integer(exitCode, option: "--exit-code", 0...255)
            let gate = try await global.engine().gates.complete(id, exitCode: exitCode, results: parsed)
            try Output(global).record(
                gate, "gate \(gate.gateID) \(gate.state.rawValue): \(gate.decision?.reason ?? "no decision")")
            if gate.state != .passed { throw reportFailure() }
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Skip a pending or running gate.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gate's id.") var id: String
        @Option(help: "Why.") var reason: String

        func run() async throws {
            let gate = try await global.engine().gates.skip(try Parse.id(id), reason: reason)
            try Output(global).record(gate, "gate \(gate.gateID) skipped: \(reason)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one gate.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gate's id.") var id: String

        func run() async throws {
            let gate = try await global.engine().gates.get(try Parse.id(id))
            try Output(global).record(gate, GateCommand.describe(gate))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List gates, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this project.") var project: String?
        @Option(help: "Only this state.") var state: String?
        @Option(help: "Only this type.") var type: String?

        func run() async throws {
            let filter = GateFilter(
                projectID: project, state: try Parse.optionalEnumeration(state, option: "--state"),
                gateType: try Parse.optionalEnumeration(type, option: "--type"))
            try await Output(global).list(
                try global.engine().gates.list(filter), empty: "no gates",
                columns: [
                    ("GATE", { $0.gateID.description }), ("NAME", { $0.name }), ("TYPE", { $0.gateType.rawValue }),
                    ("STATE", { $0.state.rawValue }), ("DECISION", { $0.decision?.reason ?? "-" }),
                ])
        }
    }
}
