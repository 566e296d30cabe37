import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// `sluice tests`: what the gates' runs say about the tests themselves.
struct TestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tests", abstract: "What the gates' runs say about the tests themselves.",
        subcommands: [Flaky.self])

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
                ])
        }
    }
}
