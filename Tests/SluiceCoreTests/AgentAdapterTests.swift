import Foundation
import SluiceCore
import Testing

@Suite("Agent adapters: outcomes and tokens from each agent's output")
struct AgentAdapterTests {
    func report(_ kind: AgentKind, _ stdout: String, stderr: String = "", exit: Int32? = 0, arguments: [String] = [])
        -> AgentReport
    {
        var streamed = StreamingUsage(kind: kind)
        for line in stdout.split(whereSeparator: \.isNewline) { streamed.feed(line) }
        return kind.report(stdout: stdout, stderr: stderr, exitCode: exit, streamed: streamed, arguments: arguments)
    }

    func usd(_ text: String) throws -> ExactDecimal { try ExactDecimal(parsing: text) }

    // MARK: - Claude Code

    @Test("claude: success; tokens per model from modelUsage, cache reads and writes apart, costs reported")
    func claudeSuccess() throws {
        let report = report(.claude, AgentSamples.claude)
        #expect(report.outcome == .success)
        #expect(
            report.usage == [
                AgentUsage(
                    model: "claude-haiku-4-5-20251001", inputTokens: 9412, outputTokens: 41,
                    reportedCostUSD: try usd("0.009617")),
                AgentUsage(
                    model: "claude-sonnet-4-6", inputTokens: 31, cachedInputTokens: 187_342, cacheWriteTokens: 21_877,
                    outputTokens: 2214, reportedCostUSD: try usd("0.17154435")),
            ])
        // The costs add up to total_cost_usd.
        let total = try report.usage.compactMap(\.reportedCostUSD).reduce(ExactDecimal.zero) { try $0.adding($1) }
        #expect(total == (try usd("0.18116135")))
    }

    @Test("claude: error subtypes, an API error under subtype success, and unknown error_* all fail with the reason")
    func claudeFailures() {
        let maxTurns =
            #"{"type":"result","subtype":"error_max_turns","is_error":false,"errors":["Reached maximum number of turns (30)"],"usage":{"input_tokens":5,"output_tokens":7},"total_cost_usd":0.5}"#
        #expect(
            report(.claude, maxTurns, exit: 1).outcome
                == .failure(reason: "max turns reached: Reached maximum number of turns (30)"))
        #expect(report(.claude, maxTurns, exit: 1).usage.first?.reportedCostUSD == (try? usd("0.5")))
        let budget = #"{"type":"result","subtype":"error_max_budget_usd","is_error":true,"errors":[]}"#
        #expect(report(.claude, budget, exit: 1).outcome == .failure(reason: "budget exhausted"))
        let api =
            #"{"type":"result","subtype":"success","is_error":true,"result":"Invalid API key","api_error_status":401,"terminal_reason":"api_error"}"#
        #expect(report(.claude, api, exit: 1).outcome == .failure(reason: "API error (HTTP 401): Invalid API key"))
        let unknown = #"{"type":"result","subtype":"error_something_new","is_error":false}"#
        #expect(report(.claude, unknown).outcome == .failure(reason: "error_something_new"))
        #expect(
            report(.claude, "not json at all", exit: 1).outcome
                == .failure(reason: "claude printed no result message and exited badly (exit 1)"))
    }

    @Test("claude: a verbose array takes its last result; stream-json dedupes streamed usage by message id")
    func claudeArrayAndStream() {
        let array = "[{\"type\":\"system\",\"subtype\":\"init\"}," + AgentSamples.claude + "]"
        #expect(report(.claude, array).outcome == .success)
        let stream = """
            {"type":"system","subtype":"hook_response"}
            {"type":"system","subtype":"init","session_id":"s","model":"claude-sonnet-4-6"}
            {"type":"assistant","message":{"id":"msg_1","usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":5}}}
            {"type":"assistant","message":{"id":"msg_1","usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":5}}}
            {"type":"rate_limit_event"}
            {"type":"assistant","message":{"id":"msg_2","usage":{"input_tokens":3,"output_tokens":2}}}
            {"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":13,"cache_read_input_tokens":100,"output_tokens":7},"total_cost_usd":0.01}
            """
        var streamed = StreamingUsage(kind: .claude)
        for line in stream.split(separator: "\n") { streamed.feed(line) }
        #expect(streamed.totalTokens == 115 + 5)
        let report = report(.claude, stream)
        #expect(report.outcome == .success)
        #expect(report.usage.first?.totalTokens == 120)
    }

    // MARK: - Codex

    @Test("codex: turn.completed is success; cached tokens come out of input_tokens; error lines alone are retries")
    func codexSuccess() {
        let report = report(.codex, AgentSamples.codex, arguments: ["codex", "-m", "gpt-5-codex"])
        #expect(report.outcome == .success)
        #expect(
            report.usage == [
                AgentUsage(
                    model: "gpt-5-codex", inputTokens: 48_211 - 41_984, cachedInputTokens: 41_984, outputTokens: 1893)
            ])
    }

    @Test("codex: turn.failed fails with its message; no terminal event fails with unknown usage")
    func codexFailures() {
        let failed = """
            {"type":"thread.started","thread_id":"t"}
            {"type":"turn.started"}
            {"type":"error","message":"stream error: usage limit reached"}
            {"type":"turn.failed","error":{"message":"stream error: usage limit reached"}}
            """
        #expect(
            report(.codex, failed, exit: 1).outcome
                == .failure(reason: "turn failed: stream error: usage limit reached"))
        #expect(report(.codex, failed, exit: 1).usage.isEmpty)
        let cut = "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n{\"type\":\"turn.started\"}\n"
        #expect(
            report(.codex, cut, exit: nil).outcome
                == .failure(reason: "codex ended without turn.completed or turn.failed (killed)"))
    }

    // MARK: - Gemini CLI

    @Test("gemini: tokens per model, cached out of prompt, thoughts in the output; no cost")
    func geminiSuccess() {
        let report = report(.gemini, AgentSamples.gemini)
        #expect(report.outcome == .success)
        #expect(
            report.usage == [
                AgentUsage(model: "gemini-2.5-flash-lite", inputTokens: 1873, outputTokens: 24),
                AgentUsage(
                    model: "gemini-2.5-pro", inputTokens: 52_374 - 43_262, cachedInputTokens: 43_262,
                    outputTokens: 1216 + 1397),
            ])
    }

    @Test("gemini: exit codes name the failure; a fatal error object on stderr adds its message; an error field fails")
    func geminiFailures() {
        let stderr =
            "Warning: retrying\n{\"session_id\":\"s\",\"error\":{\"type\":\"FatalTurnLimitedError\",\"message\":\"Reached max session turns\",\"code\":53}}"
        #expect(
            report(.gemini, "", stderr: stderr, exit: 53).outcome
                == .failure(reason: "turn limit reached: FatalTurnLimitedError: Reached max session turns"))
        #expect(report(.gemini, "", exit: 41).outcome == .failure(reason: "authentication failed"))
        let invalid = #"{"session_id":"s","response":"","error":{"type":"INVALID_STREAM","message":"bad stream"}}"#
        #expect(report(.gemini, invalid).outcome == .failure(reason: "INVALID_STREAM: bad stream"))
        let stream = """
            {"type":"init","session_id":"s","model":"gemini-2.5-pro"}
            {"type":"message","role":"assistant","content":"hi"}
            {"type":"result","status":"error","error":{"type":"FatalToolExecutionError","message":"tool died"},"stats":{"total_tokens":10,"input_tokens":8,"output_tokens":2,"cached":0,"input":8}}
            """
        #expect(report(.gemini, stream, exit: 54).outcome == .failure(reason: "FatalToolExecutionError: tool died"))
    }

    // MARK: - aider

    @Test("aider: wrapped report lines read whole; cache writes out of sent; the last session amount is the cost")
    func aiderSession() throws {
        let report = report(.aider, AgentSamples.aider)
        #expect(report.outcome == .success)
        #expect(
            report.usage == [
                AgentUsage(
                    model: "anthropic/claude-sonnet-4-20250514", inputTokens: (5200 - 3100) + (6000 - 1200),
                    cachedInputTokens: 3100, cacheWriteTokens: 3100 + 1200, outputTokens: 154 + 137,
                    reportedCostUSD: try usd("0.04"))
            ])
    }

    @Test("aider: old comma integers and `request`; no Cost part without a known price; a non-zero exit fails")
    func aiderVariants() throws {
        let old = "Tokens: 1,234 sent, 56 received. Cost: $0.0034 request, $0.01 session.\n"
        #expect(
            report(.aider, old).usage == [
                AgentUsage(inputTokens: 1234, outputTokens: 56, reportedCostUSD: try usd("0.01"))
            ])
        let unpriced = "Tokens: 12k sent, 1235k received.\n"
        #expect(report(.aider, unpriced).usage == [AgentUsage(inputTokens: 12_000, outputTokens: 1_235_000)])
        #expect(report(.aider, unpriced, exit: 2).outcome == .failure(reason: "the agent exited with 2"))
    }

    // MARK: - command

    @Test("command: usage lines add up per model; every field optional; junk lines ignored")
    func commandUsage() throws {
        let out = """
            working…
            {"usage": {"model": "m", "input_tokens": 10, "cached_input_tokens": 5, "output_tokens": 3, "cost_usd": 0.25}}
            {"usage": {"model": "m", "output_tokens": 2, "cost_usd": 0.5}}
            {"usage": {"input_tokens": 7}}
            {"usage": "not an object"}
            {"usage": {"input_tokens": -4, "cost_usd": -1}}
            """
        let result = report(.command, out)
        #expect(result.outcome == .success)
        #expect(
            result.usage == [
                AgentUsage(
                    model: "m", inputTokens: 10, cachedInputTokens: 5, outputTokens: 5, reportedCostUSD: try usd("0.75")
                ),
                AgentUsage(inputTokens: 7),
            ])
        #expect(report(.command, out, exit: 3).outcome == .failure(reason: "the agent exited with 3"))
    }

    // MARK: - Command lines

    @Test("command lines: placeholders replaced inside arguments, adapters' own flags after the program")
    func commandLines() throws {
        let line = try AgentKind.command.commandLine(
            ["./agent", "--in={prompt_file}", "{workspace}/x", "{task_id}"], prompt: "p q", promptFile: "/f",
            workspace: "/w", taskID: "T")
        #expect(line == ["./agent", "--in=/f", "/w/x", "T"])
        #expect(
            try AgentKind.claude.commandLine([], prompt: "fix it", promptFile: "/f", workspace: "/w", taskID: "T")
                == ["claude", "-p", "--output-format", "json", "--", "fix it"])
        // What the hard budgets leave goes to claude as its own cap, unless the user set one.
        let cap = try ExactDecimal(parsing: "1.25")
        #expect(
            try AgentKind.claude.commandLine(
                [], prompt: "fix it", promptFile: "/f", workspace: "/w", taskID: "T", capUSD: cap)
                == ["claude", "--max-budget-usd", "1.25", "-p", "--output-format", "json", "--", "fix it"])
        #expect(
            try AgentKind.claude.commandLine(
                ["claude", "--max-budget-usd=0.5"], prompt: "x", promptFile: "/f", workspace: "/w", taskID: "T",
                capUSD: cap) == ["claude", "--max-budget-usd=0.5", "-p", "--output-format", "json", "--", "x"])
        // A user's cap above what the budgets leave is lowered to it, in either spelling; junk is replaced.
        #expect(
            try AgentKind.claude.commandLine(
                ["claude", "--max-budget-usd", "9", "--max-budget-usd=lots"], prompt: "x", promptFile: "/f",
                workspace: "/w", taskID: "T", capUSD: cap)
                == [
                    "claude", "--max-budget-usd", "1.25", "--max-budget-usd=1.25", "-p", "--output-format", "json",
                    "--", "x",
                ])
        // The user's own cap is what a task without an estimate holds.
        #expect(
            AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd", "2.5"]) == (try ExactDecimal(parsing: "2.5"))
        )
        #expect(
            AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd=0.75"]) == (try ExactDecimal(parsing: "0.75")))
        #expect(AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd", "-1"]) == nil)
        #expect(
            AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd", "0.2", "--max-budget-usd=50"])
                == (try ExactDecimal(parsing: "50")))
        #expect(AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd", "2000000"]) == nil)
        #expect(AgentKind.claude.userCapUSD(in: ["claude", "--max-budget-usd"]) == nil)
        #expect(AgentKind.codex.userCapUSD(in: ["codex", "--max-budget-usd", "2"]) == nil)
        #expect(
            try AgentKind.codex.commandLine(
                [], prompt: "x", promptFile: "/f", workspace: "/w", taskID: "T", capUSD: cap)
                == ["codex", "exec", "--json", "--", "x"])
        #expect(
            try AgentKind.codex.commandLine(
                ["/opt/codex", "-m", "o3"], prompt: "x", promptFile: "/f", workspace: "/w", taskID: "T")
                == ["/opt/codex", "-m", "o3", "exec", "--json", "--", "x"])
        #expect(
            try AgentKind.aider.commandLine(
                ["aider", "--message-file", "{prompt_file}"], prompt: "x", promptFile: "/f", workspace: "/w",
                taskID: "T")
                == ["aider", "--message-file", "/f"])
        #expect(throws: SluiceError.self) {
            try AgentKind.command.commandLine([], prompt: "x", promptFile: "/f", workspace: "/w", taskID: "T")
        }
        // A prompt that reads like an option stays the prompt: after `--`, or joined with `=`.
        let hostile = "--dangerously-skip-permissions"
        #expect(
            try AgentKind.claude.commandLine([], prompt: hostile, promptFile: "/f", workspace: "/w", taskID: "T")
                .suffix(2)
                == ["--", hostile])
        #expect(
            try AgentKind.gemini.commandLine([], prompt: hostile, promptFile: "/f", workspace: "/w", taskID: "T")
                .contains("--prompt=" + hostile))
        #expect(
            try AgentKind.aider.commandLine([], prompt: hostile, promptFile: "/f", workspace: "/w", taskID: "T")
                .contains("--message=" + hostile))
        // A prompt holding a placeholder's text is not expanded again.
        #expect(
            try AgentKind.command.commandLine(
                ["a", "{prompt}"], prompt: "{workspace}", promptFile: "/f", workspace: "/w", taskID: "T")
                == ["a", "{workspace}"])
    }
}

@Suite("Agent adapters: reported amounts")
struct ReportedAmountTests {
    @Test(
        "a reported cost printed as a binary double is rounded to 9 places, not dropped; absurd ones are not believed")
    func rounding() throws {
        func cost(_ text: String) -> ExactDecimal? {
            var streamed = StreamingUsage(kind: .command)
            streamed.feed(Substring("{\"usage\": {\"model\": \"m\", \"output_tokens\": 1, \"cost_usd\": \(text)}}"))
            return streamed.usages.first?.reportedCostUSD
        }
        #expect(cost("0.030389999999999997") == (try ExactDecimal(parsing: "0.03039")))
        #expect(cost("0.1234567890123") == (try ExactDecimal(parsing: "0.123456789")))
        #expect(cost("1e3") == (try ExactDecimal(parsing: "1000")))
        #expect(cost("1e-25") == .zero)
        #expect(cost("99999999999999") == nil)
        #expect(cost("-3") == nil)
    }
}
