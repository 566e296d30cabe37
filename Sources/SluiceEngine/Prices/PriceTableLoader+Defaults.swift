extension PriceTableLoader {
    /// The table shipped with Sluice: list prices in US dollars per 1,000,000 tokens, standard
    /// (not batch or priority) processing, as the providers published them when `taken` says.
    /// Prices change: keep them current in `.sluice/prices.yml` (an entry there wins wherever it
    /// applies), or import LiteLLM's file with `sluice prices import`.
    public static let defaultTable = """
        taken: 2025-11-24
        note: >-
          List prices as the providers published them on the day above. They change; check them
          and keep your own current in .sluice/prices.yml, or run sluice prices import.
        entries:
          - provider: anthropic
            model: claude-opus-4-5
            aliases: [claude-opus-4-5-20251101]
            match: "claude-opus-4-5*"
            effective_from: 2025-11-24
            per_million_tokens: {input: 5, cached_input: 0.50, cache_write: 6.25, cache_write_1h: 10, output: 25}
          - provider: anthropic
            model: claude-opus-4-1
            aliases: [claude-opus-4-1-20250805]
            match: "claude-opus-4-1*"
            effective_from: 2025-08-05
            per_million_tokens: {input: 15, cached_input: 1.50, cache_write: 18.75, cache_write_1h: 30, output: 75}
          - provider: anthropic
            model: claude-sonnet-4-5
            aliases: [claude-sonnet-4-5-20250929]
            match: "claude-sonnet-4-5*"
            effective_from: 2025-09-29
            per_million_tokens: {input: 3, cached_input: 0.30, cache_write: 3.75, cache_write_1h: 6, output: 15}
            tiers:
              - above_input_tokens: 200000
                per_million_tokens: {input: 6, cached_input: 0.60, cache_write: 7.50, cache_write_1h: 12, output: 22.50}
          - provider: anthropic
            model: claude-sonnet-4
            aliases: [claude-sonnet-4-20250514]
            effective_from: 2025-05-22
            per_million_tokens: {input: 3, cached_input: 0.30, cache_write: 3.75, cache_write_1h: 6, output: 15}
            tiers:
              - above_input_tokens: 200000
                per_million_tokens: {input: 6, cached_input: 0.60, cache_write: 7.50, cache_write_1h: 12, output: 22.50}
          - provider: anthropic
            model: claude-haiku-4-5
            aliases: [claude-haiku-4-5-20251001]
            match: "claude-haiku-4-5*"
            effective_from: 2025-10-15
            per_million_tokens: {input: 1, cached_input: 0.10, cache_write: 1.25, cache_write_1h: 2, output: 5}
          - provider: openai
            model: gpt-5
            aliases: [gpt-5-2025-08-07]
            effective_from: 2025-08-07
            per_million_tokens: {input: 1.25, cached_input: 0.125, output: 10}
          - provider: openai
            model: gpt-5-codex
            effective_from: 2025-09-23
            per_million_tokens: {input: 1.25, cached_input: 0.125, output: 10}
          - provider: openai
            model: gpt-5-mini
            aliases: [gpt-5-mini-2025-08-07]
            effective_from: 2025-08-07
            per_million_tokens: {input: 0.25, cached_input: 0.025, output: 2}
          - provider: openai
            model: gpt-5-nano
            aliases: [gpt-5-nano-2025-08-07]
            effective_from: 2025-08-07
            per_million_tokens: {input: 0.05, cached_input: 0.005, output: 0.40}
          - provider: google
            model: gemini-2.5-pro
            effective_from: 2025-06-17
            per_million_tokens: {input: 1.25, cached_input: 0.125, output: 10}
            tiers:
              - above_input_tokens: 200000
                per_million_tokens: {input: 2.50, cached_input: 0.25, output: 15}
          - provider: google
            model: gemini-2.5-flash
            effective_from: 2025-06-17
            per_million_tokens: {input: 0.30, cached_input: 0.03, output: 2.50}
          - provider: google
            model: gemini-2.5-flash-lite
            effective_from: 2025-07-22
            per_million_tokens: {input: 0.10, cached_input: 0.01, output: 0.40}
        """
}
