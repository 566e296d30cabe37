import Foundation
import SluiceCore
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// The real git, run as a process. Every call names the repository (or worktree) it works in.
/// What it can do beyond running a command is ``GitClient``'s, which it implements.
public struct Git: GitClient {
    /// What a git command printed and how it exited.
    public typealias Output = GitOutput

    /// The repository's top directory.
    public let repository: String

    public init(repository: String) {
        self.repository = repository
    }

    /// The identity Sluice commits as, and settings that keep git's output stable and non-interactive.
    static let environment: [Environment.Key: String?] = [
        "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_AUTHOR_NAME": "Sluice", "GIT_AUTHOR_EMAIL": "sluice@localhost",
        "GIT_COMMITTER_NAME": "Sluice", "GIT_COMMITTER_EMAIL": "sluice@localhost", "GIT_CONFIG_NOSYSTEM": "1",
    ]

    /// Runs one git command and waits for it to end.
    ///
    /// - Throws: ``SluiceError`` (`storage`) when git cannot be started; a non-zero exit is an output.
    public func run(_ command: GitCommand) async throws -> Output {
        let arguments = command.arguments
        let workingDirectory = FilePath(command.directory ?? repository)
        var variables = Git.environment
        for (key, value) in command.environment { variables[Environment.Key(stringLiteral: key)] = value }
        let environment = Environment.inherit.updating(variables)
        do {
            let result: ExecutionResult<Void, BytesOutput, StringOutput<UTF8>>
            if let input = command.input {
                result = try await Subprocess.run(
                    .name("git"), arguments: Arguments(arguments), environment: environment,
                    workingDirectory: workingDirectory, input: .array(input), output: .bytes(limit: 256 << 20),
                    error: .string(limit: 1 << 20))
            } else {
                result = try await Subprocess.run(
                    .name("git"), arguments: Arguments(arguments), environment: environment,
                    workingDirectory: workingDirectory, output: .bytes(limit: 256 << 20),
                    error: .string(limit: 1 << 20))
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
        } catch {
            throw SluiceError(code: .storage, message: "cannot run git \(arguments.first ?? ""): \(error)")
        }
    }
}
