import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// `sluice`: the root command.
public struct SluiceCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Run AI coding agents on one repository safely: workers, a patch ledger, test gates and costs.",
        discussion: """
            Start with `sluice demo` to see the landing pipeline on a throwaway repository, or `sluice init` in your \
            repository, then `sluice patch submit` and `sluice run`.

            Exit codes: 0 success; 1 the operation ran and reports failure (a gate failed, a patch was rejected or \
            quarantined, the landing is blocked); 3 invalid transition or lost race; 4 not found; 64 usage error or \
            invalid input.
            """,
        subcommands: [
            InitCommand.self, RunCommand.self, DemoCommand.self, WorkerCommand.self, PatchCommand.self,
            GateCommand.self, CostCommand.self, TaskCommand.self, ExportCommand.self, EventsCommand.self,
            DatabaseCommand.self, StatusCommand.self, PricesCommand.self, BudgetCommand.self, TestsCommand.self,
        ])

    public init() {}
}

/// Runs the command line and maps every outcome to an exit code.
public enum SluiceRunner {
    /// Runs `arguments` (without the program name), writing to ``Console/current``; returns the exit code.
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            var command = try SluiceCommand.parseAsRoot(arguments)
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                // Every command of Sluice's is asynchronous; ArgumentParser's own (help) may not be.
                try command.run()
            }
            return 0
        } catch {
            return report(error, json: wantsJSON(arguments))
        }
    }

    /// Whether the command line asks for JSON: `--json` before any `--` (after it, the words are a
    /// program's, as in `worker run -- COMMAND`).
    static func wantsJSON(_ arguments: [String]) -> Bool {
        for argument in arguments {
            if argument == "--" { return false }
            if argument == "--json" { return true }
        }
        return false
    }

    /// Prints the error on standard error, as one sentence (`error: …`), or with `json` as
    /// `{"error": {"code": …, "message": …}}`, and returns its exit code.
    static func report(_ error: any Error, json: Bool = false) -> Int32 {
        let console = Console.current
        func say(_ code: String, _ message: String) {
            if json {
                let object = JSONValue.object(["error": .object(["code": .string(code), "message": .string(message)])])
                console.errorLine(object.jsonText)
            } else {
                console.errorLine("error: \(message)")
            }
        }
        if let error = error as? SluiceError {
            say(error.code.description, error.message)
            return exitCode(for: error)
        }
        // A file-system error that no command wrapped still reads as one sentence, not a Foundation dump.
        let nsError = error as NSError
        if nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain {
            let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo["NSURL"] as? URL)?.path
            let wrapped = SluiceError.fileSystem("use", path ?? "a file", error)
            say(wrapped.code.description, wrapped.message)
            return exitCode(for: wrapped)
        }
        // A command that reported its outcome (a quarantine, an unpriced model) and exits with it.
        if let exit = error as? ExitCode { return exit.rawValue }
        let code = SluiceCommand.exitCode(for: error).rawValue
        if json, code != 0 {
            // A usage error from the parser: its one-line message, without the usage text.
            var message = SluiceCommand.message(for: error)
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            say("usage", message)
            return code
        }
        let message = SluiceCommand.fullMessage(for: error)
        if !message.isEmpty {
            if code == 0 { console.line(message) } else { console.errorLine(message) }
        }
        return code
    }

    /// Runs `arguments` in process with captured output; for tests.
    ///
    /// - Parameter directory: the directory the command works from, in place of the process's.
    package static func execute(_ arguments: [String], input: String? = nil, directory: String? = nil) async -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let console = Console.capturing(input: input)
        let status = await GlobalOptions.$workingDirectory.withValue(directory) {
            await Console.$current.withValue(console) { await run(arguments) }
        }
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
