import SluiceCore
import SluiceEngine
import Synchronization

/// A git that answers from a script and records every command it is given, to drive the pipeline
/// through paths real git reaches only by chance (a branch moved by another writer at one precise
/// moment). A command no rule answers exits 128 with a message naming it, and is listed in
/// ``unanswered``.
public final class ScriptedGit: GitClient {
    public let repository: String
    private let script = Mutex(Script())

    private struct Script {
        var rules: [Rule] = []
        var calls: [GitCommand] = []
        var unanswered: [GitCommand] = []
    }

    private struct Rule {
        var prefix: [String]
        var answers: [GitOutput]
        var before: (@Sendable (GitCommand) -> Void)?
    }

    /// A script with no rule, for the repository at `repository` (a folder that exists, for `.sluice/`).
    public init(repository: String) {
        self.repository = repository
    }

    /// Answers the commands whose arguments start with `prefix`: with `answers` in turn, the last one
    /// again once the others are used up. `before` runs first, each time (another writer's move).
    /// A later rule takes precedence over an earlier one that matches too.
    @discardableResult
    public func on(
        _ prefix: [String], answer answers: GitOutput..., before: (@Sendable (GitCommand) -> Void)? = nil
    ) -> ScriptedGit {
        precondition(!answers.isEmpty, "a scripted git rule needs an answer")
        script.withLock { $0.rules.append(Rule(prefix: prefix, answers: answers, before: before)) }
        return self
    }

    /// Every command run, in order.
    public var calls: [GitCommand] { script.withLock { $0.calls } }

    /// The commands run whose arguments start with `prefix`.
    public func calls(_ prefix: String...) -> [GitCommand] {
        calls.filter { $0.arguments.starts(with: prefix) }
    }

    /// The commands no rule answered.
    public var unanswered: [GitCommand] { script.withLock { $0.unanswered } }

    public func run(_ command: GitCommand) async throws -> GitOutput {
        let (answer, before) = script.withLock { script -> (GitOutput?, (@Sendable (GitCommand) -> Void)?) in
            script.calls.append(command)
            guard let index = script.rules.lastIndex(where: { command.arguments.starts(with: $0.prefix) }) else {
                script.unanswered.append(command)
                return (nil, nil)
            }
            let rule = script.rules[index]
            if rule.answers.count > 1 { script.rules[index].answers.removeFirst() }
            return (rule.answers[0], rule.before)
        }
        before?(command)
        return answer ?? .failure(128, "scripted git: no answer for \(command)")
    }
}

/// Gates' processes that are never started: each command ends as the script says, and is recorded.
public final class ScriptedProcesses: ProcessLaunching {
    private let state: Mutex<(outcomes: [String: ProcessOutcome], commands: [String])>
    private let during: (@Sendable (String) -> Void)?

    /// Every command ends with `outcomes[command]`, else exit 0 after 5 ms; `during` runs while it
    /// "runs" (a branch moved while a gate ran).
    public init(_ outcomes: [String: ProcessOutcome] = [:], during: (@Sendable (String) -> Void)? = nil) {
        self.state = Mutex((outcomes, []))
        self.during = during
    }

    /// The commands run, in order.
    public var commands: [String] { state.withLock { $0.commands } }

    public func run(
        shell command: String, in directory: String, timeout: Duration, grace: Duration, log logPath: String,
        logLimit: Int, environment: [String: String], sandbox: ProcessSandbox,
        started: @escaping @Sendable (Int32) -> Void
    ) async -> ProcessOutcome {
        let outcome = state.withLock { state in
            state.commands.append(command)
            return state.outcomes[command] ?? ProcessOutcome(exitCode: 0, milliseconds: 5)
        }
        during?(command)
        return outcome
    }
}
