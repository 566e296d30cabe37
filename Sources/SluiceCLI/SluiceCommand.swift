import ArgumentParser
import Foundation
import SluiceCore

/// `sluice`: the root command.
public struct SluiceCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Run AI coding agents on one repository safely: workers, a patch ledger, test gates and costs.",
        discussion: """
            Exit codes: 0 success; 1 the operation ran and reports failure (a gate failed, a patch was rejected);
            3 invalid transition or lost race; 4 not found; 64 usage error or invalid input.
            """,
        subcommands: [
            InitCommand.self, WorkerCommand.self, PatchCommand.self, GateCommand.self, CostCommand.self,
            ExportCommand.self, EventsCommand.self,
        ])

    public init() {}
}

/// Runs the command line and maps every outcome to an exit code.
public enum SluiceRunner {
    /// Runs `arguments` (without the program name), writing to ``Console/current``; returns the exit code.
    public static func run(_ arguments: [String]) -> Int32 {
        let console = Console.current
        do {
            var command = try SluiceCommand.parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as SluiceError {
            console.errorLine("error: \(error.message)")
            return exitCode(for: error)
        } catch {
            let code = SluiceCommand.exitCode(for: error).rawValue
            let message = SluiceCommand.fullMessage(for: error)
            if !message.isEmpty {
                if code == 0 { console.line(message) } else { console.errorLine(message) }
            }
            return code
        }
    }

    /// Runs `arguments` in process with captured output; for tests.
    public static func execute(_ arguments: [String], input: String? = nil) -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let console = Console.capturing(input: input)
        let status = Console.$current.withValue(console) { run(arguments) }
        return (status, console.standardOutput, console.standardError)
    }

    /// The exit code DESIGN.md gives for each kind of error.
    public static func exitCode(for error: SluiceError) -> Int32 {
        switch error.code {
        case .notFound: 4
        case .invalidTransition, .lostRace: 3
        case .invalidInput, .conflict: 64
        default: 1
        }
    }
}
