import Foundation

/// Claude Code's `--output-format json` (one object, or with `--verbose` an array of every message)
/// and `stream-json` (one message per line): the last `result` message decides.
enum ClaudeOutput {
    static func report(stdout: String, exitCode: Int32?) -> AgentReport {
        guard let result = lastResult(stdout) else {
            let why = exitCode == 0 ? "printed no result message" : "printed no result message and exited badly"
            return AgentReport(outcome: .failure(reason: "claude \(why)" + AgentOutput.exitNote(exitCode)))
        }
        return AgentReport(outcome: outcome(result, exitCode: exitCode), usage: usage(result))
    }

    /// The last object with `type: result`: in one object, an array, or lines of objects.
    static func lastResult(_ stdout: String) -> [String: JSONValue]? {
        let trimmed = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("["), case .array(let items)? = try? JSONValue.parse(trimmed, what: "claude output") {
            for case .object(let item) in items.reversed() where item["type"]?.stringValue == "result" { return item }
            return nil
        }
        if let whole = AgentOutput.object(Substring(trimmed)), whole["type"]?.stringValue == "result" { return whole }
        for line in AgentOutput.lines(stdout).reversed() where line.contains("\"result\"") {
            if let object = AgentOutput.object(line), object["type"]?.stringValue == "result" { return object }
        }
        return nil
    }

    static func outcome(_ result: [String: JSONValue], exitCode: Int32?) -> AgentOutcome {
        let subtype = result["subtype"]?.stringValue ?? ""
        let isError = result["is_error"] == .bool(true)
        let errors: String =
            if case .array(let items)? = result["errors"] {
                items.compactMap(\.stringValue).joined(separator: "; ")
            } else { "" }
        if subtype == "success" && !isError { return .success }
        if subtype == "success" {
            var reason = "API error"
            if let status = result["api_error_status"]?.numberValue { reason += " (HTTP \(status))" }
            if let text = result["result"]?.stringValue, !text.isEmpty { reason += ": " + AgentOutput.line(text) }
            return .failure(reason: reason)
        }
        let named: String =
            switch subtype {
            case "error_max_turns": "max turns reached"
            case "error_max_budget_usd": "budget exhausted"
            case "error_during_execution": "error during execution"
            case "error_max_structured_output_retries": "structured output retries exhausted"
            default: subtype.isEmpty ? "no outcome" : subtype
            }
        return .failure(reason: errors.isEmpty ? named : "\(named): \(AgentOutput.line(errors))")
    }

    /// Per model from `modelUsage` (the run's totals, each with its reported cost); else the main
    /// model's `usage` with `total_cost_usd` (or the old `cost_usd`).
    static func usage(_ result: [String: JSONValue]) -> [AgentUsage] {
        if case .object(let models)? = result["modelUsage"], !models.isEmpty {
            return models.keys.sorted().compactMap { name in
                guard case .object(let entry)? = models[name] else { return nil }
                return AgentUsage(
                    model: name, inputTokens: AgentOutput.count(entry["inputTokens"]),
                    cachedInputTokens: AgentOutput.count(entry["cacheReadInputTokens"]),
                    cacheWriteTokens: AgentOutput.count(entry["cacheCreationInputTokens"]),
                    outputTokens: AgentOutput.count(entry["outputTokens"]),
                    reportedCostUSD: AgentOutput.money(entry["costUSD"]))
            }
        }
        guard case .object(let usage)? = result["usage"] else { return [] }
        var main = self.usage(fromSnakeCase: usage)
        main.reportedCostUSD = AgentOutput.money(result["total_cost_usd"] ?? result["cost_usd"])
        return [main]
    }

    static func usage(fromSnakeCase usage: [String: JSONValue]) -> AgentUsage {
        AgentUsage(
            inputTokens: AgentOutput.count(usage["input_tokens"]),
            cachedInputTokens: AgentOutput.count(usage["cache_read_input_tokens"]),
            cacheWriteTokens: AgentOutput.count(usage["cache_creation_input_tokens"]),
            outputTokens: AgentOutput.count(usage["output_tokens"]))
    }

}

/// `codex exec --json`: JSON lines; `turn.completed` is success with the thread's cumulative usage,
/// `turn.failed` failure; `error` lines alone are retries, not the end.
enum CodexOutput {
    static func report(stdout: String, exitCode: Int32?, model: String?) -> AgentReport {
        var terminal: [String: JSONValue]?
        var lastError: String?
        for line in AgentOutput.lines(stdout) where line.contains("\"type\"") {
            guard let object = AgentOutput.object(line), let type = object["type"]?.stringValue else { continue }
            switch type {
            case "turn.completed", "turn.failed": terminal = object
            case "error": lastError = object["message"]?.stringValue
            default: break
            }
        }
        guard let terminal else {
            var reason = "codex ended without turn.completed or turn.failed" + AgentOutput.exitNote(exitCode)
            if let lastError { reason += ": " + AgentOutput.line(lastError) }
            return AgentReport(outcome: .failure(reason: reason))
        }
        if terminal["type"]?.stringValue == "turn.failed" {
            var message = "turn failed"
            if case .object(let error)? = terminal["error"], let text = error["message"]?.stringValue {
                message += ": " + AgentOutput.line(text)
            }
            return AgentReport(outcome: .failure(reason: message))
        }
        guard case .object(let usage)? = terminal["usage"] else {
            return AgentReport(outcome: exitCode == 0 ? .success : AgentOutput.exitOutcome(exitCode))
        }
        let input = AgentOutput.count(usage["input_tokens"])
        let cached = AgentOutput.count(usage["cached_input_tokens"])
        let written = AgentOutput.count(usage["cache_write_input_tokens"])
        let tokens = AgentUsage(
            model: model, inputTokens: max(0, input - cached - written), cachedInputTokens: min(cached, input),
            cacheWriteTokens: min(written, max(0, input - cached)),
            outputTokens: AgentOutput.count(usage["output_tokens"]))
        // Success needs both: the turn completed and codex exited 0.
        let outcome: AgentOutcome = exitCode == 0 ? .success : AgentOutput.exitOutcome(exitCode)
        return AgentReport(outcome: outcome, usage: [tokens])
    }
}

/// `gemini -p … --output-format json` (one object on stdout; a fatal error as an object on stderr)
/// or `stream-json` (lines; the `result` line decides).
enum GeminiOutput {
    static func report(stdout: String, stderr: String, exitCode: Int32?) -> AgentReport {
        let trimmed = stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if let object = AgentOutput.object(Substring(trimmed)) {
            let usage = usage(stats: object["stats"])
            if let error = errorText(object["error"]) {
                return AgentReport(outcome: .failure(reason: error), usage: usage)
            }
            return AgentReport(outcome: exitOutcome(exitCode, stderr: stderr), usage: usage)
        }
        // stream-json: the result line.
        for line in AgentOutput.lines(stdout).reversed() {
            guard let object = AgentOutput.object(line), object["type"]?.stringValue == "result" else { continue }
            let usage = self.usage(stats: object["stats"])
            if object["status"]?.stringValue != "success" {
                return AgentReport(
                    outcome: .failure(reason: errorText(object["error"]) ?? "gemini reported status error"),
                    usage: usage)
            }
            return AgentReport(outcome: exitOutcome(exitCode, stderr: stderr), usage: usage)
        }
        return AgentReport(outcome: exitOutcome(exitCode == 0 ? -1 : exitCode, stderr: stderr))
    }

    static func exitOutcome(_ exitCode: Int32?, stderr: String) -> AgentOutcome {
        if exitCode == 0 { return .success }
        var reason: String =
            switch exitCode {
            case 41: "authentication failed"
            case 42: "invalid input"
            case 52: "configuration error"
            case 53: "turn limit reached"
            case 54: "fatal tool error"
            case 130: "cancelled"
            case -1: "gemini printed no JSON result"
            case nil: "the agent was killed"
            default: "the agent exited with \(exitCode!)"
            }
        // A fatal error is an object on standard error, perhaps after warnings.
        if let start = stderr.firstIndex(of: "{"), let object = AgentOutput.object(stderr[start...]),
            let text = errorText(object["error"])
        {
            reason += ": " + text
        }
        return .failure(reason: reason)
    }

    static func errorText(_ value: JSONValue?) -> String? {
        guard case .object(let error)? = value else { return nil }
        let type = error["type"]?.stringValue
        let message = error["message"]?.stringValue.map { AgentOutput.line($0) }
        return [type, message].compactMap { $0 }.joined(separator: ": ").nonEmpty ?? "error"
    }

    /// Per model from `stats.models` (plain `json`) or `stats.models` in a stream's result.
    static func usage(stats: JSONValue?) -> [AgentUsage] {
        guard case .object(let stats)? = stats, case .object(let models)? = stats["models"] else { return [] }
        return models.keys.sorted().compactMap { name in
            guard case .object(let model)? = models[name] else { return nil }
            let tokens: [String: JSONValue]
            if case .object(let nested)? = model["tokens"] { tokens = nested } else { tokens = model }
            let prompt = AgentOutput.count(tokens["prompt"] ?? tokens["input_tokens"])
            let cached = min(AgentOutput.count(tokens["cached"]), prompt)
            return AgentUsage(
                model: name, inputTokens: prompt - cached + AgentOutput.count(tokens["tool"]),
                cachedInputTokens: cached,
                outputTokens: AgentOutput.count(tokens["candidates"] ?? tokens["output_tokens"])
                    .addingSaturating(AgentOutput.count(tokens["thoughts"])))
        }
    }
}

/// aider's `Tokens: … sent, … cache write, … cache hit, … received.` and ` Cost: $… message, $… session.`
/// report lines (wrapped by a narrow terminal, with old comma and `request` forms).
enum AiderOutput {
    static func report(stdout: String, exitCode: Int32?) -> AgentReport {
        // Joined into one line, a wrapped report reads whole.
        let text = AgentOutput.lines(stdout).joined(separator: " ")
        let model = mainModel(stdout)
        var usages: [AgentUsage] = []
        var session: ExactDecimal?
        var rest = Substring(text)
        while let start = rest.range(of: "Tokens: ") {
            let after = rest[start.upperBound...]
            guard let end = after.range(of: "received.") else { break }
            var usage = AgentUsage(model: model)
            var cacheWrite: Int64 = 0
            var sent: Int64 = 0
            // Parts end at ", " (a comma inside `1,234` has no space after it).
            for part in String(after[..<end.upperBound]).components(separatedBy: ", ") {
                let words = part.split(separator: " ")
                guard let first = words.first, let value = number(Substring(first)) else { continue }
                let label = words.dropFirst().joined(separator: " ").trimmingCharacters(in: .punctuationCharacters)
                switch label {
                case "sent": sent = value
                case "cache write": cacheWrite = value
                case "cache hit": usage.cachedInputTokens = value
                case "received": usage.outputTokens = value
                default: break
                }
            }
            usage.cacheWriteTokens = cacheWrite
            usage.inputTokens = max(0, sent - cacheWrite)
            rest = after[end.upperBound...]
            // The cost part that may follow: "Cost: $0.02 message, $0.04 session."
            let tail = rest.prefix(120)
            if tail.trimmingCharacters(in: .whitespaces).hasPrefix("Cost:"),
                let sessionRange = tail.range(of: "session")
            {
                let amounts = tail[..<sessionRange.lowerBound].split(separator: "$").dropFirst()
                if let last = amounts.last, let value = money(last) { session = value }
            }
            usages.append(usage)
        }
        var merged = AgentUsage.merged(usages)
        if let session, !merged.isEmpty { merged[0].reportedCostUSD = session }
        return AgentReport(outcome: AgentOutput.exitOutcome(exitCode), usage: merged)
    }

    /// `Main model: NAME with …` from the banner.
    static func mainModel(_ stdout: String) -> String? {
        for line in AgentOutput.lines(stdout).prefix(40) where line.hasPrefix("Main model: ") {
            return line.dropFirst("Main model: ".count).split(separator: " ").first.map(String.init)
        }
        return nil
    }

    /// `154`, `5.2k`, `12k`, `1,234`.
    static func number(_ text: Substring) -> Int64? {
        var digits = text.replacingOccurrences(of: ",", with: "")
        var scale: Double = 1
        if digits.hasSuffix("k") {
            scale = 1000
            digits.removeLast()
        }
        guard let value = Double(digits), value >= 0, value < 1e15 else { return nil }
        return Int64((value * scale).rounded())
    }

    /// `0.04 session` → 0.04.
    static func money(_ text: Substring) -> ExactDecimal? {
        let figure = text.prefix { $0.isNumber || $0 == "." || $0 == "," }.replacingOccurrences(of: ",", with: "")
        return try? ExactDecimal(parsing: figure)
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
