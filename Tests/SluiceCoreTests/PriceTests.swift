import SluiceCore
import Testing

/// Pricing: exact amounts from dated entries, tiers, and usage that is unpriced rather than free.
@Suite("Prices")
struct PriceTests {
    static func amount(_ text: String) -> ExactDecimal { try! ExactDecimal(parsing: text) }
    static func day(_ text: String) -> Timestamp { try! Timestamp(parsing: text + "T00:00:00Z") }

    static let sonnet = PriceEntry(
        provider: "anthropic", model: "claude-sonnet-4-5", aliases: ["claude-sonnet-4-5-20250929"],
        match: "claude-sonnet-4-5*", effectiveFrom: day("2025-09-29"),
        rates: PriceRates(
            input: amount("3"), cachedInput: amount("0.30"), cacheWrite: amount("3.75"), cacheWrite1h: amount("6"),
            output: amount("15")),
        tiers: [
            PriceTier(
                aboveInputTokens: 200_000,
                rates: PriceRates(input: amount("6"), cachedInput: amount("0.60"), output: amount("22.50")))
        ])

    @Test("every component at its own rate: uncached input, cache read, 5-minute and 1-hour writes, output")
    func components() throws {
        let table = PriceTable(layers: [[Self.sonnet]])
        let quote = try table.price(
            TokenCounts(input: 1000, cachedInput: 20_000, cacheWrite: 3000, cacheWrite1h: 100, output: 500),
            model: "claude-sonnet-4-5", at: Self.day("2026-01-01"))
        // 1000×3 + 20000×0.30 + 3000×3.75 + 100×6 + 500×15 = 28,350 per million.
        #expect(quote.amount == Self.amount("0.02835"))
        #expect(quote.entryID == "anthropic/claude-sonnet-4-5@2025-09-29")
        #expect(quote.tier == nil)
    }

    @Test("a tier reprices the whole request once its input, all parts counted, passes the threshold")
    func tier() throws {
        let table = PriceTable(layers: [[Self.sonnet]])
        let at = Self.day("2026-01-01")
        let below = try table.price(
            TokenCounts(input: 100_000, cachedInput: 100_000, output: 1000), model: "claude-sonnet-4-5", at: at)
        #expect(below.tier == nil)
        #expect(below.amount == Self.amount("0.345"))  // 300,000 + 30,000 + 15,000
        let above = try table.price(
            TokenCounts(input: 100_000, cachedInput: 100_000, cacheWrite: 1, output: 1000), model: "claude-sonnet-4-5",
            at: at)
        #expect(above.tier == 200_000)
        // 600,000 + 60,000 + 1 × 3.75 (the tier leaves cache writes at the base rate) + 22,500.
        #expect(above.amount == Self.amount("0.68250375"))
        // Added-up usage of several requests is judged on the average request.
        let many = try table.price(
            TokenCounts(input: 300_000, output: 10, requests: 2), model: "claude-sonnet-4-5", at: at)
        #expect(many.tier == nil)
    }

    @Test("dated entries: each applies from its first instant up to, not including, its end")
    func effectiveDates() throws {
        let old = PriceEntry(
            provider: "p", model: "m", effectiveFrom: Self.day("2025-01-01"), effectiveTo: Self.day("2025-06-01"),
            rates: PriceRates(input: Self.amount("1")))
        let new = PriceEntry(
            provider: "p", model: "m", effectiveFrom: Self.day("2025-06-01"), rates: PriceRates(input: Self.amount("2"))
        )
        let table = PriceTable(layers: [[old, new]])
        let counts = TokenCounts(input: 1_000_000)
        let last = try Timestamp(parsing: "2025-05-31T23:59:59.999Z")
        #expect(try table.price(counts, model: "m", at: last).amount == Self.amount("1"))
        #expect(try table.price(counts, model: "m", at: Self.day("2025-06-01")).amount == Self.amount("2"))
        #expect(throws: Unpriced.self) { try table.price(counts, model: "m", at: Self.day("2024-12-31")) }
    }

    @Test("an unknown model, or a component its entry does not price, is unpriced: never zero")
    func unpriced() throws {
        let table = PriceTable(layers: [[Self.sonnet]])
        let at = Self.day("2026-01-01")
        #expect(throws: Unpriced.self) { try table.price(TokenCounts(input: 10), model: "gpt-9", at: at) }
        let gpt = PriceEntry(
            provider: "openai", model: "gpt-5", effectiveFrom: Self.day("2025-08-07"),
            rates: PriceRates(input: Self.amount("1.25"), cachedInput: Self.amount("0.125"), output: Self.amount("10")))
        let openai = PriceTable(layers: [[gpt]])
        do {
            _ = try openai.price(TokenCounts(input: 10, cacheWrite: 5), model: "gpt-5", at: at)
            Issue.record("cache writes without a price were priced")
        } catch let unpriced as Unpriced {
            #expect(unpriced.reason.contains("no cache_write price"))
        } catch {
            Issue.record("\(error)")
        }
        // Reasoning tokens reported apart are output when the entry prices them no other way.
        #expect(try openai.price(TokenCounts(reasoning: 100), model: "gpt-5", at: at).amount == Self.amount("0.001"))
    }

    @Test("names: an alias, a provider prefix, a pattern; and the project's layer wins where it applies")
    func names() throws {
        let at = Self.day("2026-01-01")
        var table = PriceTable(layers: [[Self.sonnet]])
        for name in ["claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5", "CLAUDE-SONNET-4-5-20991231"] {
            #expect(table.entry(for: name, at: at)?.model == "claude-sonnet-4-5", "\(name)")
        }
        #expect(table.entry(for: "claude-sonnet-4", at: at) == nil)
        // An older-dated entry of the project's still wins over the default table.
        let mine = PriceEntry(
            provider: "anthropic", model: "claude-sonnet-4-5", effectiveFrom: Self.day("2025-01-01"),
            rates: PriceRates(input: Self.amount("2.5"), output: Self.amount("12")), source: "project")
        table.add(layer: [mine])
        #expect(
            try table.price(TokenCounts(input: 1_000_000), model: "claude-sonnet-4-5", at: at).amount
                == Self.amount("2.5"))
    }

    @Test("amounts are exact to the billionth, rounded once per record, ties to even")
    func exactness() throws {
        let entry = PriceEntry(
            provider: "p", model: "m", effectiveFrom: Self.day("2025-01-01"),
            rates: PriceRates(input: Self.amount("0.000000001"), output: Self.amount("0.123456789")),
            source: "test")
        // 500,000 × 10^-15 = 0.5 billionth: to even (0); 1,500,000 × 10^-15 = 1.5: to even (2).
        #expect(try PriceTable.price(TokenCounts(input: 500_000), with: entry).amount == ExactDecimal(units: 0))
        #expect(try PriceTable.price(TokenCounts(input: 1_500_000), with: entry).amount == ExactDecimal(units: 2))
        // 7 × 0.123456789 per million = 0.000000864197523: 864 billionths.
        #expect(try PriceTable.price(TokenCounts(output: 7), with: entry).amount == ExactDecimal(units: 864))
        // Large but kept: 10^12 tokens at $75 per million.
        let opus = PriceEntry(
            provider: "p", model: "o", effectiveFrom: Self.day("2025-01-01"),
            rates: PriceRates(output: Self.amount("75")))
        #expect(
            try PriceTable.price(TokenCounts(output: 1_000_000_000_000), with: opus).amount == Self.amount("75000000"))
        #expect(throws: SluiceError.self) {
            try PriceTable.price(TokenCounts(output: 1_000_000_000_000_000), with: opus)
        }
    }

    @Test("usage that does not add up is refused, not clamped")
    func inconsistentUsage() throws {
        let counts = try TokenCounts.includingCached(input: 1000, cachedInput: 300, output: 5)
        #expect(counts.input == 700 && counts.cachedInput == 300 && counts.totalInput == 1000)
        #expect(throws: SluiceError.self) { try TokenCounts.includingCached(input: 100, cachedInput: 300, output: 5) }
        #expect(throws: SluiceError.self) { try TokenCounts(input: -1).validated() }
        #expect(throws: SluiceError.self) { try TokenCounts(input: 1, requests: 0).validated() }
        #expect(throws: SluiceError.self) { try TokenCounts(input: .max, output: 1).validated() }
    }
}
