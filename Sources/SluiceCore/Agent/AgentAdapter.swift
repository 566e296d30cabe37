import Foundation

/// The agents Sluice runs, and how each is started and read: the adapter builds the command line,
/// turns the agent's output into an outcome and token usage (``AgentReport``), and counts tokens
/// while it runs where the agent streams them.
///
/// Which tokens each agent's input count holds (see ``AgentUsage`` for the one convention):
/// - claude: `input_tokens` excludes cache reads and writes; the run's totals are `modelUsage`,
///   per model, with `costUSD` (reported).
/// - codex: `input_tokens` includes `cached_input_tokens` (and `cache_write_input_tokens` when
///   present); `turn.completed` is the thread's running total; no cost, no model (read from `-m`).
/// - gemini: `prompt` includes `cached`; output is `candidates` + `thoughts`; `tool` is input; no cost.
/// - aider: `sent` includes the cache writes; cache hits are apart; the last `session` amount is
///   the run's reported cost.
/// - command: Sluice's convention as is, from `{"usage": {…}}` lines, which add up.
public enum AgentKind: String, CaseIterable, Sendable, Codable {
    case aider, claude, codex, command, gemini

    /// The program started when no command is given.
    public var defaultProgram: String? {
        switch self {
        case .command: nil
        default: rawValue
        }
    }

    /// The placeholders a command may hold, replaced inside each argument.
    public static let placeholders = ["{prompt}", "{prompt_file}", "{workspace}", "{task_id}"]

    /// The program and arguments that run the agent on a task.
    ///
    /// `command` is what the user gave after `--`: for `command` it is the whole command line; for
    /// the others it replaces the program (its name by default) and the adapter adds its own
    /// arguments after it, unless the command already holds a placeholder, which says the user
    /// wrote the whole line. Placeholders are replaced inside each argument; nothing goes through
    /// a shell.
    ///
    /// `capUSD`, what the hard budgets over the task leave for it in US dollars, is passed to an agent
    /// that can stop itself at an amount (claude's `--max-budget-usd`); a cap the user's command line
    /// sets stays where it is lower, and is lowered to `capUSD` where not.
    ///
    /// - Throws: `invalidInput` when `command` runs no program.
    public func commandLine(
        _ command: [String], prompt: String, promptFile: String, workspace: String, taskID: String,
        capUSD: ExactDecimal? = nil
    ) throws -> [String] {
        func fill(_ argument: String) -> String {
            argument.replacingOccurrences(of: "{prompt_file}", with: promptFile)
                .replacingOccurrences(of: "{workspace}", with: workspace)
                .replacingOccurrences(of: "{task_id}", with: taskID)
                .replacingOccurrences(of: "{prompt}", with: prompt)
        }
        let given = command.isEmpty ? (defaultProgram.map { [$0] } ?? []) : command
        guard let program = given.first, !program.isEmpty else {
            throw SluiceError.invalidInput(
                "agent command needs a program to run: `-- PROGRAM ARGS…` (placeholders: "
                    + Self.placeholders.joined(separator: ", ") + ")")
        }
        if self == .command || given.contains(where: { arg in Self.placeholders.contains { arg.contains($0) } }) {
            return given.map(fill)
        }
        // The prompt is the task's text, not options: it comes after `--`, or joined to its option
        // with `=`, so that a prompt such as `--dangerously-skip-permissions` stays a prompt.
        switch self {
        case .claude:
            var line = given
            if let capUSD {
                var found = false
                for index in line.indices {
                    if line[index] == "--max-budget-usd", index + 1 < line.count {
                        found = true
                        if let own = try? ExactDecimal(parsing: line[index + 1]), own <= capUSD { continue }
                        line[index + 1] = capUSD.description
                    } else if line[index].hasPrefix("--max-budget-usd=") {
                        found = true
                        let own = try? ExactDecimal(parsing: String(line[index].dropFirst("--max-budget-usd=".count)))
                        if let own, own <= capUSD { continue }
                        line[index] = "--max-budget-usd=" + capUSD.description
                    }
                }
                if !found { line += ["--max-budget-usd", capUSD.description] }
            }
            return line + ["-p", "--output-format", "json", "--", prompt]
        case .codex: return given + ["exec", "--json", "--", prompt]
        case .gemini: return given + ["--prompt=" + prompt, "--output-format", "json"]
        case .aider: return given + ["--message=" + prompt, "--yes-always", "--no-auto-commits", "--no-pretty"]
        case .command: return given.map(fill)
        }
    }

    /// The cap the user's own command line sets on what one run of the agent may spend, in US dollars
    /// (claude's `--max-budget-usd N` or `--max-budget-usd=N`): the agent stops itself there, so it is
    /// what a task without an estimate of its own holds on its budgets. Nil when none is set, or the
    /// agent has no such option.
    public func userCapUSD(in command: [String]) -> ExactDecimal? {
        guard self == .claude else { return nil }
        // Where the option is given more than once, the largest: the estimate must cover whichever wins.
        var largest: ExactDecimal?
        for (index, argument) in command.enumerated() {
            var value: String?
            if argument == "--max-budget-usd", index + 1 < command.count {
                value = command[index + 1]
            } else if argument.hasPrefix("--max-budget-usd=") {
                value = String(argument.dropFirst("--max-budget-usd=".count))
            }
            guard let value, let amount = try? ExactDecimal(parsing: value), !amount.isNegative,
                amount <= CostEstimate.maximum
            else { continue }
            largest = max(largest ?? amount, amount)
        }
        return largest
    }

    /// Variables the adapter sets for the agent: aider's report lines must not wrap.
    public var environment: [String: String] {
        self == .aider ? ["COLUMNS": "1000"] : [:]
    }

    /// Reads the agent's report from what it printed and how it ended.
    ///
    /// - Parameters:
    ///   - stdout: standard output (its end, when it was longer than the log keeps).
    ///   - streamed: what ``StreamingUsage`` counted while the agent ran (command's usage lines).
    ///   - exitCode: the exit code, or nil when a signal ended it.
    ///   - arguments: the command line, for a model named with `-m`/`--model`.
    public func report(
        stdout: String, stderr: String, exitCode: Int32?, streamed: StreamingUsage, arguments: [String] = []
    ) -> AgentReport {
        switch self {
        case .claude: ClaudeOutput.report(stdout: stdout, exitCode: exitCode)
        case .codex: CodexOutput.report(stdout: stdout, exitCode: exitCode, model: Self.model(in: arguments))
        case .gemini: GeminiOutput.report(stdout: stdout, stderr: stderr, exitCode: exitCode)
        case .aider: AiderOutput.report(stdout: stdout, exitCode: exitCode)
        case .command:
            AgentReport(
                outcome: AgentOutput.exitOutcome(exitCode), usage: AgentUsage.merged(streamed.usages))
        }
    }

    /// The value of `-m`, `--model` or `--model=` in a command line.
    static func model(in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument.hasPrefix("--model=") { return String(argument.dropFirst("--model=".count)) }
            if argument == "-m" || argument == "--model", index + 1 < arguments.count { return arguments[index + 1] }
        }
        return nil
    }
}

/// What adapters share to read JSON and exits.
enum AgentOutput {
    static func exitOutcome(_ exitCode: Int32?) -> AgentOutcome {
        exitCode == 0
            ? .success : .failure(reason: exitCode.map { "the agent exited with \($0)" } ?? "the agent was killed")
    }

    /// ` (exit N)`, or ` (killed)` when a signal ended the agent.
    static func exitNote(_ exitCode: Int32?) -> String {
        exitCode.map { " (exit \($0))" } ?? " (killed)"
    }

    static func object(_ text: Substring) -> [String: JSONValue]? {
        guard let first = text.first(where: { !$0.isWhitespace }), first == "{" else { return nil }
        guard case .object(let object)? = try? JSONValue.parse(String(text), what: "agent output") else { return nil }
        return object
    }

    static func count(_ value: JSONValue?) -> Int64 {
        guard let number = value?.numberValue, number >= 0, number <= Decimal(Int64.max / 2) else { return 0 }
        return Int64(truncating: NSDecimalNumber(decimal: number))
    }

    /// The most a single report may claim: a million dollars; anything above is not believed.
    static let maxReportedCost: Decimal = 1_000_000

    /// A reported amount in dollars, rounded half-even to ExactDecimal's 9 places (agents print
    /// binary doubles such as `0.030389999999999997`); nil for a negative, non-finite or absurd one.
    static func money(_ value: JSONValue?) -> ExactDecimal? {
        guard var number = value?.numberValue, number.isFinite, number >= 0, number <= maxReportedCost else {
            return nil
        }
        var rounded = Decimal()
        NSDecimalRound(&rounded, &number, ExactDecimal.scale, .bankers)
        return try? ExactDecimal(rounded)
    }

    static func line(_ text: String, limit: Int = 300) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        return flat.count > limit ? String(flat.prefix(limit)) + "…" : flat
    }

    static func lines(_ text: String) -> [Substring] { text.split(whereSeparator: \.isNewline) }
}

/// Token counts read line by line while the agent runs: claude's `stream-json` assistant messages
/// (deduplicated by message id), codex's `turn.completed` totals, and `{"usage": …}` lines of a
/// `command` agent (which add up). The supervisor's watchdog sees tokens burn through ``totalTokens``.
public struct StreamingUsage: Sendable {
    public let kind: AgentKind
    /// The `command` agent's usage lines, in order.
    public private(set) var usages: [AgentUsage] = []
    private var claudeMessages: [String: Int64] = [:]
    private var codexTotal: Int64 = 0

    public init(kind: AgentKind) { self.kind = kind }

    /// Tokens counted so far.
    public var totalTokens: Int64 {
        switch kind {
        case .command: usages.reduce(0) { $0.addingSaturating($1.totalTokens) }
        case .claude: claudeMessages.values.reduce(0) { $0.addingSaturating($1) }
        case .codex: codexTotal
        case .aider, .gemini: 0
        }
    }

    /// Reads one line of standard output.
    public mutating func feed(_ line: Substring) {
        guard line.contains("usage"), let object = AgentOutput.object(line) else { return }
        switch kind {
        case .command:
            guard case .object(let usage)? = object["usage"] else { return }
            usages.append(
                AgentUsage(
                    model: usage["model"]?.stringValue, inputTokens: AgentOutput.count(usage["input_tokens"]),
                    cachedInputTokens: AgentOutput.count(usage["cached_input_tokens"]),
                    cacheWriteTokens: AgentOutput.count(usage["cache_write_tokens"]),
                    outputTokens: AgentOutput.count(usage["output_tokens"]),
                    reportedCostUSD: AgentOutput.money(usage["cost_usd"])))
        case .claude:
            guard object["type"]?.stringValue == "assistant", case .object(let message)? = object["message"],
                let id = message["id"]?.stringValue, case .object(let usage)? = message["usage"]
            else { return }
            claudeMessages[id] = ClaudeOutput.usage(fromSnakeCase: usage).totalTokens
        case .codex:
            guard object["type"]?.stringValue == "turn.completed", case .object(let usage)? = object["usage"] else {
                return
            }
            codexTotal = AgentOutput.count(usage["input_tokens"]).addingSaturating(
                AgentOutput.count(usage["output_tokens"]))
        case .aider, .gemini:
            return
        }
    }
}
