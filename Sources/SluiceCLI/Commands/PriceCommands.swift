import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// The price table in force: the default one with the project's `.sluice/prices.yml` over it.
enum Prices {
    static var projectFile: String {
        ((GlobalOptions.projectRoot() as NSString).appendingPathComponent(".sluice") as NSString)
            .appendingPathComponent(PriceTableLoader.fileName)
    }

    static func table() throws -> PriceTable { try PriceTableLoader.load(projectFile: projectFile) }

    /// A token count from an option: a whole number, 0 or more.
    static func tokens(_ value: Int64, option: String) throws -> Int64 {
        guard value >= 0 else { throw SluiceError.invalidInput("\(option) must be 0 or more, not \(value)") }
        return value
    }
}

/// `sluice cost price`: what some tokens of a model cost, and the entry that priced them.
struct PriceQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "price",
        abstract: "Price tokens of a model with the price table; prints the cost and the entry used.",
        discussion: """
            --input counts input tokens read neither from nor into a cache; --cached-input those read \
            from one; --cache-write those written into one (5 minutes), --cache-write-1h for 1 hour. A \
            tier applies when all of them together exceed its threshold. Reasoning tokens are priced as \
            output unless the entry prices them apart. A model no entry prices is unpriced (exit 1).
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "The model id, as the agent reports it.") var model: String
    @Option(help: "Uncached input tokens.") var input: Int64 = 0
    @Option(help: "Output tokens.") var output: Int64 = 0
    @Option(help: "Input tokens read from a cache.") var cachedInput: Int64 = 0
    @Option(help: "Input tokens written into a 5-minute cache.") var cacheWrite: Int64 = 0
    @Option(name: .customLong("cache-write-1h"), help: "Input tokens written into a 1-hour cache.")
    var cacheWrite1h: Int64 = 0
    @Option(help: "Reasoning tokens counted apart from the output.") var reasoning: Int64 = 0
    @Option(help: "Requests these tokens add up (a tier is judged on the average request).") var requests: Int64 = 1
    @Option(help: "The day (YYYY-MM-DD) or instant (UTC) to price at; default now.") var at: String?

    struct Priced: Encodable {
        let model: String
        let at: String
        let amount: String
        let currency: String
        let entry: String
        let source: String
        let tier: Int64?
        let rates: [String: String]
    }

    func run() async throws {
        let counts = try TokenCounts(
            input: Prices.tokens(input, option: "--input"),
            cachedInput: Prices.tokens(cachedInput, option: "--cached-input"),
            cacheWrite: Prices.tokens(cacheWrite, option: "--cache-write"),
            cacheWrite1h: Prices.tokens(cacheWrite1h, option: "--cache-write-1h"),
            output: Prices.tokens(output, option: "--output"),
            reasoning: Prices.tokens(reasoning, option: "--reasoning"),
            requests: requests
        ).validated()
        let instant = try at.map(PriceTableLoader.instant) ?? SystemClock().now()
        let table = try Prices.table()
        let quote: PriceQuote
        do {
            quote = try table.price(counts, model: model, at: instant)
        } catch let unpriced as Unpriced {
            // Unpriced is an answer, not a price of zero: said, and exit 1.
            struct UnpricedRecord: Encodable {
                let model: String
                let at: String
                let unpriced: String
            }
            try Output(global).record(
                UnpricedRecord(model: model, at: instant.description, unpriced: unpriced.reason),
                "unpriced: \(unpriced.reason)")
            throw reportFailure()
        }
        let entry = table.entry(for: model, at: instant)
        let rates = Dictionary(uniqueKeysWithValues: quote.rates.named.map { ($0.0, $0.1.description) })
        let priced = Priced(
            model: model, at: instant.description, amount: quote.amount.description, currency: quote.currency.code,
            entry: quote.entryID, source: entry?.source ?? "", tier: quote.tier, rates: rates)
        let tier = quote.tier.map { ", tier above \($0) input tokens" } ?? ""
        try Output(global).record(
            priced,
            "\(quote.amount) \(quote.currency) by \(quote.entryID) (\(entry?.source ?? "?")\(tier)): "
                + quote.rates.named.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + " per 1M tokens")
    }
}

/// `sluice prices …`: the price table.
struct PricesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prices", abstract: "Show the price table, or import LiteLLM's prices into the project's.",
        discussion: """
            The table is Sluice's default one (list prices on the date it states: keep them current) \
            with the project's .sluice/prices.yml over it: an entry there wins wherever it applies.
            """,
        subcommands: [List.self, Import.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the price entries in force, later layers first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only entries in force on this day (YYYY-MM-DD) or instant.") var at: String?

        struct Row: Encodable {
            let entry: String
            let provider: String
            let model: String
            let from: String
            let to: String?
            let currency: String
            let rates: [String: String]
            let tiers: [Int64]
            let source: String
        }

        func run() async throws {
            let table = try Prices.table()
            let instant = try at.map(PriceTableLoader.instant)
            let rows = table.entries.filter { entry in instant.map { entry.isEffective(at: $0) } ?? true }.map {
                entry in
                Row(
                    entry: entry.id, provider: entry.provider, model: entry.model,
                    from: entry.effectiveFrom.description, to: entry.effectiveTo?.description,
                    currency: entry.currency.code,
                    rates: Dictionary(uniqueKeysWithValues: entry.rates.named.map { ($0.0, $0.1.description) }),
                    tiers: entry.tiers.map(\.aboveInputTokens), source: entry.source)
            }
            if !global.json, let taken = table.taken {
                Console.current.line("default prices taken \(taken); project file: \(Prices.projectFile)")
            }
            try Output(global).list(
                rows, empty: "no price entries",
                columns: [
                    ("ENTRY", \.entry),
                    (
                        "PER 1M TOKENS",
                        { row in
                            row.rates.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                        }
                    ),
                    ("TIERS", { $0.tiers.map { "> \($0)" }.joined(separator: ", ") }), ("SOURCE", \.source),
                ])
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read LiteLLM's model_prices_and_context_window.json into the project's .sluice/prices.yml.",
            discussion: """
                Each model with a price per token becomes an entry dated --effective-from (default: \
                today, UTC), its per-token costs made per 1,000,000 tokens exactly, each …_above_Nk_tokens \
                key a tier. The project file keeps its other entries; it is rewritten (comments are not kept).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "LiteLLM's JSON file.") var file: String
        @Option(help: "The day (YYYY-MM-DD) the imported prices apply from.") var effectiveFrom: String?

        struct Summary: Encodable {
            struct LeftOut: Encodable {
                let model: String
                let reason: String
            }
            let imported: Int
            let leftOut: [LeftOut]
            let file: String
            let effectiveFrom: String

            enum CodingKeys: String, CodingKey {
                case imported, file
                case leftOut = "left_out"
                case effectiveFrom = "effective_from"
            }
        }

        func run() async throws {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw SluiceError.fileSystem("read", file, error)
            }
            let day =
                try effectiveFrom.map(PriceTableLoader.instant)
                ?? PriceTableLoader.instant(String(SystemClock().now().description.prefix(10)))
            let imported = try PriceTableLoader.importLiteLLM(
                text, effectiveFrom: day, source: "LiteLLM import of \((file as NSString).lastPathComponent)")
            guard !imported.entries.isEmpty else {
                throw SluiceError.invalidInput("\(file) holds no model with a price per token")
            }
            // The project file's other entries stay; an imported one replaces its namesake.
            let target = Prices.projectFile
            let replaced = Set(imported.entries.map(\.id))
            let kept = try PriceTableLoader.entries(inFile: target).filter { !replaced.contains($0.id) }
            let written = PriceTableLoader.render(
                kept + imported.entries, note: "Sluice's project price table; written by sluice prices import")
            // Parsed back before it replaces anything: a file Sluice cannot read is never written.
            _ = try PriceTableLoader.parse(written, file: target, source: target)
            do {
                try FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(written.utf8).write(to: URL(fileURLWithPath: target), options: .atomic)
            } catch {
                throw SluiceError.fileSystem("write", target, error)
            }
            let leftOut = imported.skipped.map { Summary.LeftOut(model: $0.model, reason: $0.reason) }
            let examples = leftOut.prefix(3).map { "\($0.model) (\($0.reason))" }.joined(separator: ", ")
            try Output(global).record(
                Summary(
                    imported: imported.entries.count, leftOut: leftOut, file: target,
                    effectiveFrom: String(day.description.prefix(10))),
                "imported \(imported.entries.count) entries from \(file) into \(target), effective "
                    + "\(day.description.prefix(10)); \(leftOut.count) models left out"
                    + (examples.isEmpty ? "" : ", such as \(examples)"))
        }
    }
}
