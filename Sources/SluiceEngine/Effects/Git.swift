import Foundation
import SluiceCore

/// The real git, run as a process. Every call names the repository (or worktree) it works in.
/// What it can do beyond running a command is ``GitClient``'s, which it implements.
public struct Git: GitClient {
    /// What a git command printed and how it exited.
    public typealias Output = GitOutput

    /// The repository's top directory.
    public let repository: String
    /// How long one git command may run before it is killed and the operation fails:
    /// ``defaultTimeout(environment:)`` unless given.
    public let timeout: Duration

    public init(repository: String, timeout: Duration? = nil) {
        self.repository = repository
        self.timeout = timeout ?? Git.defaultTimeout()
    }

    /// `SLUICE_GIT_TIMEOUT_SECONDS` (a whole number from 1 to 86,400) when set to one, else 10 minutes:
    /// far more than any step of a landing takes, short enough that a git that hangs (a hook, a filter,
    /// a lock on a network file system) does not hold the run and its budget hold forever.
    public static func defaultTimeout(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Duration {
        guard let text = environment["SLUICE_GIT_TIMEOUT_SECONDS"], let seconds = Int(text),
            (1...86_400).contains(seconds)
        else { return .seconds(600) }
        return .seconds(seconds)
    }

    /// The identity Sluice commits as, and settings that keep git's output stable and non-interactive.
    package static let environment: [String: String] = [
        "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_AUTHOR_NAME": "Sluice", "GIT_AUTHOR_EMAIL": "sluice@localhost",
        "GIT_COMMITTER_NAME": "Sluice", "GIT_COMMITTER_EMAIL": "sluice@localhost", "GIT_CONFIG_NOSYSTEM": "1",
    ]

    /// Runs one git command and waits for it to end.
    ///
    /// - Throws: ``SluiceError`` (`storage`) when git cannot be started; a non-zero exit is an output.
    public func run(_ command: GitCommand) async throws -> Output {
        let arguments = command.arguments
        var variables = Git.environment
        for (key, value) in command.environment { variables[key] = value }
        let result = try await PipedProcess.run(
            "git", arguments, environment: variables, directory: command.directory ?? repository,
            input: command.input, outputLimit: Git.outputLimit, errorLimit: Git.errorLimit, timeout: timeout)
        guard !result.timedOut else {
            throw SluiceError(
                code: .blocked,
                message:
                    "git \(arguments.first ?? "") ran longer than \(timeout.components.seconds) s and was stopped; "
                    + "nothing it was doing is counted done (SLUICE_GIT_TIMEOUT_SECONDS sets the limit)")
        }
        guard !result.stdoutTruncated else {
            throw SluiceError(
                code: .storage,
                message: "git \(arguments.first ?? "") printed more than \(Git.outputLimit >> 20) MiB; nothing was read"
            )
        }
        return Output(
            status: result.status, stdout: result.stdout, stderr: String(decoding: result.stderr, as: UTF8.self))
    }

    /// The most a git command may print: 256 MiB.
    static let outputLimit = 256 << 20
    /// The most of git's standard error kept: 64 KiB, plenty for its messages (which may be stored in
    /// the ledger as a reason); the rest is read and dropped.
    static let errorLimit = 64 << 10
}
