import Foundation
import SluiceCore
import SluiceEngine
import Testing

/// `prices.yml` and LiteLLM's file: read exactly, refused by line.
@Suite("Price tables")
struct PriceTableLoaderTests {
    @Test("the default table reads, says when its prices were taken, and prices the agents' usual models")
    func defaultTable() throws {
        let table = try PriceTableLoader.load(projectFile: nil)
        #expect(table.taken == "2025-11-24")
        let at = try PriceTableLoader.instant("2026-01-01")
        for model in [
            "claude-sonnet-4-5-20250929", "claude-opus-4-5", "claude-haiku-4-5", "gpt-5", "gpt-5-codex",
            "gemini-2.5-pro",
        ] {
            let entry = try #require(table.entry(for: model, at: at), "\(model)")
            #expect(entry.rates.input != nil && entry.rates.output != nil && entry.source == "default table")
        }
    }

    @Test(
        "a bad table is refused with its file and line",
        arguments: [
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-01-01, per_million_tokens: {input: -1}}",
                "line 2: input must not be negative"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-01-01, per_million_tokens: {input: 1e-6}}",
                "line 2: '1e-6' is not a valid amount"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-01-01, per_million_tokens: {inputs: 1}}",
                "line 2: unknown key 'inputs'"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: soon, per_million_tokens: {input: 1}}",
                "line 2: 'soon' is not a date"
            ),
            (
                "entries:\n  - {provider: p, model: m, per_million_tokens: {input: 1}}",
                "line 2: an entry needs provider, model and effective_from"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-01-01}",
                "line 2: an entry needs at least one price"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-01-01, per_million_tokens: {input: 1}}\n  - {provider: p, model: m, effective_from: 2025-01-01, per_million_tokens: {input: 2}}",
                "line 3: two entries are p/m@2025-01-01"
            ),
            (
                "entries:\n  - {provider: p, model: m, effective_from: 2025-06-01, effective_to: 2025-01-01, per_million_tokens: {input: 1}}",
                "effective_to must come after"
            ),
        ])
    func refused(text: String, message: String) {
        do {
            _ = try PriceTableLoader.parse(text, file: "prices.yml", source: "test")
            Issue.record("accepted: \(text)")
        } catch let error as SluiceError {
            #expect(error.code == .invalidInput)
            #expect(error.message.hasPrefix("prices.yml "), "\(error.message)")
            #expect(error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("LiteLLM's per-token costs become exact prices per million, its above-200k keys a tier")
    func liteLLMImport() throws {
        let text = """
            {"sample_spec": {"input_cost_per_token": 0, "output_cost_per_token": 0},
             "claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 3e-06,
               "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
               "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
               "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05},
             "tiny": {"litellm_provider": "x", "input_cost_per_token": 3.75e-08, "output_cost_per_token": 0.000000123},
             "too-fine": {"input_cost_per_token": 1.234567891e-09},
             "an-image-model": {"litellm_provider": "openai", "input_cost_per_pixel": 1e-08}}
            """
        let from = try PriceTableLoader.instant("2026-11-01")
        let imported = try PriceTableLoader.importLiteLLM(text, effectiveFrom: from, source: "import")
        #expect(imported.entries.map(\.model) == ["claude-sonnet-4-5", "tiny"])
        #expect(Set(imported.skipped.map(\.model)) == ["too-fine", "an-image-model"])
        let sonnet = try #require(imported.entries.first)
        func amount(_ text: String) throws -> ExactDecimal { try ExactDecimal(parsing: text) }
        #expect(sonnet.provider == "anthropic" && sonnet.effectiveFrom == from)
        #expect(
            sonnet.rates
                == PriceRates(
                    input: try amount("3"), cachedInput: try amount("0.3"), cacheWrite: try amount("3.75"),
                    cacheWrite1h: try amount("6"), output: try amount("15")))
        #expect(
            sonnet.tiers == [
                PriceTier(
                    aboveInputTokens: 200_000, rates: PriceRates(input: try amount("6"), output: try amount("22.5")))
            ])
        #expect(imported.entries[1].rates.input == (try amount("0.0375")))
        #expect(imported.entries[1].rates.output == (try amount("0.123")))
        // What the import writes reads back as the same entries.
        let written = PriceTableLoader.render(imported.entries, note: "test")
        let read = try PriceTableLoader.parse(written, file: "prices.yml", source: "import")
        #expect(read.entries == imported.entries)
        #expect(throws: SluiceError.self) {
            try PriceTableLoader.importLiteLLM("[1, 2]", effectiveFrom: from, source: "x")
        }
    }
}
