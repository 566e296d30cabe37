import Foundation
import SluiceCore

extension PriceTableLoader {
    /// What an import read.
    public struct Imported: Sendable {
        public var entries: [PriceEntry]
        /// Models left out, with why (no token price, a price finer than Sluice keeps).
        public var skipped: [(model: String, reason: String)]
    }

    /// LiteLLM's per-token keys and the components they price.
    static var liteLLMKeys: [(key: String, component: WritableKeyPath<PriceRates, ExactDecimal?>)] {
        [
            ("input_cost_per_token", \.input), ("cache_read_input_token_cost", \.cachedInput),
            ("cache_creation_input_token_cost", \.cacheWrite),
            ("cache_creation_input_token_cost_above_1hr", \.cacheWrite1h), ("output_cost_per_token", \.output),
            ("output_cost_per_reasoning_token", \.reasoning),
        ]
    }

    /// Reads LiteLLM's `model_prices_and_context_window.json`: one entry per model that has a
    /// token price, dated `effectiveFrom`, its per-token costs made per 1,000,000 tokens exactly (from
    /// the numbers' text), and each `…_above_Nk_tokens` key a tier above N × 1,000 input tokens.
    ///
    /// - Throws: `invalidInput` when the text is not a JSON object.
    public static func importLiteLLM(_ text: String, effectiveFrom: Timestamp, source: String) throws -> Imported {
        let object = try JSONValue.parseObject(text, what: "the LiteLLM price file")
        var imported = Imported(entries: [], skipped: [])
        for model in object.keys.sorted() where model != "sample_spec" {
            guard case .object(let fields) = object[model] else {
                imported.skipped.append((model, "not an object"))
                continue
            }
            do {
                var rates = PriceRates()
                var tiers: [Int64: PriceRates] = [:]
                for (key, component) in liteLLMKeys {
                    if let value = fields[key] { rates[keyPath: component] = try perMillion(value, key) }
                    // The same key priced above a threshold: `input_cost_per_token_above_200k_tokens`.
                    for (name, value) in fields where name.hasPrefix(key + "_above_") && name.hasSuffix("k_tokens") {
                        let digits = name.dropFirst(key.count + "_above_".count).dropLast("k_tokens".count)
                        guard let thousands = Int64(digits), thousands > 0 else { continue }
                        tiers[thousands * 1000, default: PriceRates()][keyPath: component] = try perMillion(value, name)
                    }
                }
                if let request = fields["input_cost_per_request"] ?? fields["cost_per_request"] {
                    rates.perRequest = try exact(request, "cost_per_request")
                }
                guard rates.input != nil || rates.output != nil else {
                    imported.skipped.append((model, "no price per token"))
                    continue
                }
                let provider = fields["litellm_provider"]?.stringValue ?? "unknown"
                imported.entries.append(
                    PriceEntry(
                        provider: provider, model: model, effectiveFrom: effectiveFrom, rates: rates,
                        tiers: tiers.map { PriceTier(aboveInputTokens: $0.key, rates: $0.value) }, source: source))
            } catch let error as SluiceError {
                imported.skipped.append((model, error.message))
            }
        }
        return imported
    }

    /// A per-token cost made per 1,000,000 tokens, exactly.
    static func perMillion(_ value: JSONValue, _ key: String) throws -> ExactDecimal {
        let perToken = try exactDecimal(value, key)
        return try ExactDecimal(perToken * 1_000_000)
    }

    static func exact(_ value: JSONValue, _ key: String) throws -> ExactDecimal {
        try ExactDecimal(try exactDecimal(value, key))
    }

    static func exactDecimal(_ value: JSONValue, _ key: String) throws -> Decimal {
        guard let number = value.numberValue, number >= 0 else {
            throw SluiceError.invalidInput("\(key) is not a number of 0 or more")
        }
        return number
    }

    /// A price table's YAML for `entries`: what `sluice prices import` writes.
    public static func render(_ entries: [PriceEntry], note: String) -> String {
        func quoted(_ text: String) -> String {
            (try? String(decoding: JSONEncoder().encode(text), as: UTF8.self)) ?? "\"\""
        }
        func rates(_ rates: PriceRates) -> String {
            "{" + rates.named.filter { $0.0 != "per_request" }.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
        var lines = ["# " + note, "entries:"]
        for entry in entries {
            lines.append("  - provider: \(quoted(entry.provider))")
            lines.append("    model: \(quoted(entry.model))")
            if !entry.aliases.isEmpty {
                lines.append("    aliases: [\(entry.aliases.map(quoted).joined(separator: ", "))]")
            }
            if let match = entry.match { lines.append("    match: \(quoted(match))") }
            lines.append("    effective_from: \(entry.effectiveFrom)")
            if let to = entry.effectiveTo { lines.append("    effective_to: \(to)") }
            if entry.currency != .usd { lines.append("    currency: \(entry.currency)") }
            lines.append("    per_million_tokens: \(rates(entry.rates))")
            if let request = entry.rates.perRequest { lines.append("    per_request: \(request)") }
            if !entry.tiers.isEmpty {
                lines.append("    tiers:")
                for tier in entry.tiers {
                    lines.append("      - above_input_tokens: \(tier.aboveInputTokens)")
                    lines.append("        per_million_tokens: \(rates(tier.rates))")
                    if let request = tier.rates.perRequest { lines.append("        per_request: \(request)") }
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
