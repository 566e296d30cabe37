import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice tests`: what the gates' runs say about the tests themselves.
struct TestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tests", abstract: "What the gates' runs say about the tests themselves.",
        subcommands: [Flaky.self, Quarantined.self, Quarantine.self, Unquarantine.self])

    struct Flaky: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List flaky tests: those that failed a gate, then passed on a rerun of the same tree.",
            discussion: """
                A run reruns a failed gate when sluice.yml sets `flaky: {reruns: N}`. Each test that failed \
                and then passed on a rerun is counted here once per such verdict (FLAKES), against the gate \
                runs on record that ran it (RUNS); RATE is FLAKES / RUNS. A gate without test results is \
                listed under its own name. The most flakes first.
                """)
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await Output(global).list(
                try global.engine().flakyTests(), empty: "no flaky tests",
                columns: [
                    ("TEST", { Console.printable($0.test) }), ("GATE", { Console.printable($0.gate) }),
                    ("FLAKES", { "\($0.flakes)" }), ("RUNS", { "\($0.runs)" }),
                    ("RATE", { String(format: "%.1f%%", $0.failureRate * 100) }),
                    ("LAST SEEN", { $0.lastSeen.description }),
                    ("QUARANTINED", { $0.quarantined ? "yes" : "no" }),
                ])
        }
    }

    struct Quarantined: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List quarantined tests: they run and are reported, but their failures decide no gate.",
            discussion: """
                Sluice quarantines a test that flake verdicts named `flaky.quarantine_after` times (BY sluice), \
                and releases it after `flaky.release_after` landed patches in a row whose gate run passed it \
                (PASSES counts them, for a person's quarantine too). A person quarantines or releases any test \
                with `sluice tests quarantine` and `sluice tests unquarantine`; Sluice never releases what a \
                person quarantined.
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Released tests too, with who released them and why.") var all = false

        func run() async throws {
            try await Output(global).list(
                try global.engine().testQuarantines(includingReleased: all), empty: "no quarantined tests",
                columns: [
                    ("TEST", { $0.test }), ("GATE", { $0.gate }),
                    ("STATE", { $0.quarantined ? "quarantined" : "released" }),
                    ("BY", { $0.quarantined ? $0.quarantinedBy : $0.releasedBy ?? "" }),
                    ("SINCE", { ($0.quarantined ? $0.quarantinedAt : $0.releasedAt ?? $0.quarantinedAt).description }),
                    ("PASSES", { "\($0.passesInARow)" }),
                    ("REASON", { $0.quarantined ? $0.reason : $0.releaseReason ?? "" }),
                ])
        }
    }

    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Quarantine a test by hand: it still runs and is reported, but its failures decide no gate.",
            discussion: """
                The test is named as its gate's results name it (`classname.name`); a TAP test without a \
                description (named by its position, `test 3`) cannot be quarantined. A gate's required tests \
                (`required_tests`) are quarantined only this way, never by Sluice itself. Sluice does not \
                release a test a person quarantined: `sluice tests unquarantine` does. Run inside the \
                repository: the gate is checked against sluice.yml on the target branch.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The test's name, as the gate's results give it.") var test: String
        @Option(help: "Who decides (a person's name; recorded).") var by: String
        @Option(help: "The gate whose verdicts the test leaves (default: the only gate with results).")
        var gate: String?
        @Option(help: "Why, for the record.") var reason: String?

        func run() async throws {
            let pipeline = try await global.pipeline()
            let (config, _) = try await pipeline.configuration()
            let chosen = try Self.gate(gate, in: config)
            if Engine.isPositional(test, of: chosen) {
                throw SluiceError.invalidInput(
                    "\(Console.printable(test)) is a TAP test without a description, named by its position: another "
                        + "test can take that position, so it cannot be quarantined; give the test a description in "
                        + "the TAP output")
            }
            let engine = try await global.engine()
            let quarantine = try await engine.quarantineTest(test, gate: chosen.name, by: by, reason: reason)
            let recent = try await engine.gates.list(GateFilter(name: chosen.name, limit: 50))
            if !recent.contains(where: { $0.results?.testCases.contains { $0.matches(test) } == true }) {
                Console.current.errorLine(
                    "warning: no recent run of gate \(chosen.name) reported a test named \(Console.printable(test)); "
                        + "check the name against the results of a run (`sluice gate list --json`)")
            }
            try Output(global).record(
                quarantine,
                "quarantined \(Console.printable(test)) of gate \(chosen.name): it still runs, and its failures no "
                    + "longer decide the gate (by \(Console.printable(quarantine.quarantinedBy)))")
        }

        /// The gate `name` names, or the only one that reports tests.
        static func gate(_ name: String?, in config: SluiceConfig) throws -> GateConfig {
            let withResults = config.gates.filter { $0.results != nil }
            guard let name else {
                guard withResults.count == 1, let only = withResults.first else {
                    throw SluiceError.invalidInput(
                        withResults.isEmpty
                            ? "no gate in \(config.targetBranch)'s sluice.yml reports tests (`results`): "
                                + "there is no test to quarantine"
                            : "name the gate with --gate: " + withResults.map(\.name).joined(separator: ", ")
                                + " report tests")
                }
                return only
            }
            guard !name.isEmpty else { throw SluiceError.invalidInput("--gate needs a gate's name") }
            guard let found = config.gates.first(where: { $0.name == name }) else {
                throw SluiceError.invalidInput(
                    "no gate named \(Console.printable(name)) in \(config.targetBranch)'s sluice.yml (gates: "
                        + config.gates.map(\.name).joined(separator: ", ") + ")")
            }
            guard found.results != nil else {
                throw SluiceError.invalidInput(
                    "gate \(name) reports no tests (it has no `results`): a test of it cannot be quarantined")
            }
            return found
        }
    }

    struct Unquarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a quarantined test: its failures decide its gate again.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The test's name, as `sluice tests quarantined` lists it.") var test: String
        @Option(help: "Who decides (a person's name; recorded).") var by: String
        @Option(help: "The gate (needed when the test is quarantined in more than one).") var gate: String?
        @Option(help: "Why, for the record.") var reason: String?

        func run() async throws {
            let engine = try await global.engine()
            let held = try await engine.testQuarantines().filter { $0.test == test && (gate == nil || $0.gate == gate) }
            guard !held.isEmpty else {
                throw SluiceError(
                    code: .notFound,
                    message: "test \(Console.printable(test)) is not quarantined"
                        + (gate.map { " in gate \(Console.printable($0))" } ?? "") + "; nothing was changed")
            }
            guard held.count == 1 else {
                throw SluiceError.invalidInput(
                    "test \(Console.printable(test)) is quarantined in gates "
                        + held.map(\.gate).joined(separator: ", ") + "; name one with --gate")
            }
            let released = try await engine.unquarantineTest(test, gate: held[0].gate, by: by, reason: reason)
            try Output(global).record(
                released,
                "released \(Console.printable(test)) of gate \(released.gate): its failures decide the gate again "
                    + "(by \(Console.printable(released.releasedBy ?? by)))")
        }
    }
}
