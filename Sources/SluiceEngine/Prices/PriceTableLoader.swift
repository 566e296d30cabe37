import Foundation
import SluiceCore
import Yams

/// Reads price tables: the default one compiled into Sluice, a project's `.sluice/prices.yml` over
/// it, and LiteLLM's `model_prices_and_context_window.json` for `sluice prices import`. Every
/// amount is read from its text, exactly; every error names the file and the line.
public enum PriceTableLoader {
    /// The project's file, in `.sluice/`: out of agents' reach, like the ledger (a price an agent
    /// could edit would be a budget it could lift).
    public static let fileName = "prices.yml"

    /// The default table with the project's file (when `projectFile` exists) over it.
    ///
    /// - Throws: `invalidInput` naming the file and line of a bad entry.
    public static func load(projectFile: String?) throws -> PriceTable {
        let defaults = try parse(defaultTable, file: "the default price table", source: "default table")
        var table = PriceTable(layers: [defaults.entries], taken: defaults.taken)
        if let projectFile { table.add(layer: try entries(inFile: projectFile)) }
        return table
    }

    /// The entries of a price table file; none when there is no such file.
    ///
    /// - Throws: `invalidInput` naming the file and line of a bad entry; a file-system error when it
    ///   cannot be read.
    public static func entries(inFile path: String) throws -> [PriceEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SluiceError.fileSystem("read", path, error)
        }
        return try parse(text, file: path, source: path).entries
    }

    /// Parses a price table's YAML: `taken:` (when its prices were read), `note:`, and `entries:`.
    public static func parse(_ text: String, file: String, source: String) throws -> (
        entries: [PriceEntry], taken: String?
    ) {
        let reader = Reader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw SluiceError.invalidInput("\(file) \(ConfigLoader.describe(error))")
        }
        guard let root else { return ([], nil) }
        let top = try reader.mapping(root, "the file")
        try reader.refuseUnknown(top, ["taken", "note", "entries"], in: "the file")
        let taken = try top["taken"].map { try reader.string($0, "taken") }
        guard let list = top["entries"] else { return ([], taken) }
        guard case .sequence(let items) = list else { throw reader.problem(list, "entries must be a list") }
        let entries = try items.map { try reader.entry($0, source: source) }
        var seen: Set<String> = []
        for (item, entry) in zip(items, entries) where !seen.insert(entry.id).inserted {
            throw reader.problem(item, "two entries are \(entry.id) (provider, model and effective_from)")
        }
        return (entries, taken)
    }

    /// Reads the nodes of one file.
    struct Reader {
        let file: String

        func entry(_ node: Node, source: String) throws -> PriceEntry {
            let map = try mapping(node, "each entry")
            try refuseUnknown(
                map,
                [
                    "provider", "model", "aliases", "match", "effective_from", "effective_to", "currency",
                    "per_million_tokens", "per_request", "tiers",
                ], in: "an entry")
            guard let provider = map["provider"], let model = map["model"], let from = map["effective_from"] else {
                throw problem(node, "an entry needs provider, model and effective_from")
            }
            var rates = try map["per_million_tokens"].map { try self.rates($0) } ?? PriceRates()
            if let request = map["per_request"] { rates.perRequest = try amount(request, "per_request") }
            guard !rates.named.isEmpty else { throw problem(node, "an entry needs at least one price") }
            let entry = PriceEntry(
                provider: try string(provider, "provider"), model: try string(model, "model"),
                aliases: try map["aliases"].map { try ConfigLoader.strings($0, "aliases", file: file) } ?? [],
                match: try map["match"].map { try string($0, "match") },
                effectiveFrom: try instant(from, "effective_from"),
                effectiveTo: try map["effective_to"].map { try instant($0, "effective_to") },
                currency: try map["currency"].map { node in
                    try wrap(node) { try Currency(try string(node, "currency")) }
                }
                    ?? .usd,
                rates: rates, tiers: try map["tiers"].map(tiers) ?? [], source: source)
            if let to = entry.effectiveTo, to <= entry.effectiveFrom {
                throw problem(node, "effective_to must come after effective_from")
            }
            return entry
        }

        func rates(_ node: Node) throws -> PriceRates {
            let map = try mapping(node, "per_million_tokens")
            try refuseUnknown(
                map, ["input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning"],
                in: "per_million_tokens")
            return PriceRates(
                input: try map["input"].map { try amount($0, "input") },
                cachedInput: try map["cached_input"].map { try amount($0, "cached_input") },
                cacheWrite: try map["cache_write"].map { try amount($0, "cache_write") },
                cacheWrite1h: try map["cache_write_1h"].map { try amount($0, "cache_write_1h") },
                output: try map["output"].map { try amount($0, "output") },
                reasoning: try map["reasoning"].map { try amount($0, "reasoning") })
        }

        func tiers(_ node: Node) throws -> [PriceTier] {
            guard case .sequence(let items) = node else { throw problem(node, "tiers must be a list") }
            return try items.map { item in
                let map = try mapping(item, "each tier")
                try refuseUnknown(map, ["above_input_tokens", "per_million_tokens", "per_request"], in: "a tier")
                guard let above = map["above_input_tokens"],
                    let threshold = Int64(try string(above, "above_input_tokens")),
                    threshold > 0
                else { throw problem(item, "a tier needs above_input_tokens, a whole number above 0") }
                var rates = try map["per_million_tokens"].map { try self.rates($0) } ?? PriceRates()
                if let request = map["per_request"] { rates.perRequest = try amount(request, "per_request") }
                return PriceTier(aboveInputTokens: threshold, rates: rates)
            }
        }

        /// A price: exact, from the scalar's text, never through a float; not negative.
        func amount(_ node: Node, _ what: String) throws -> ExactDecimal {
            let value = try wrap(node) { try ExactDecimal(parsing: try string(node, what)) }
            guard !value.isNegative else { throw problem(node, "\(what) must not be negative") }
            return value
        }

        /// `YYYY-MM-DD` (the day's start, UTC) or a UTC timestamp.
        func instant(_ node: Node, _ what: String) throws -> Timestamp {
            try wrap(node) { try PriceTableLoader.instant(try string(node, what)) }
        }

        // The helpers of sluice.yml's reader, naming this file.
        func mapping(_ node: Node, _ what: String) throws -> Node.Mapping {
            try ConfigLoader.mapping(node, what, file: file)
        }

        func refuseUnknown(_ map: Node.Mapping, _ known: Set<String>, in what: String) throws {
            try ConfigLoader.refuseUnknown(map, known, in: what, file: file)
        }

        func string(_ node: Node, _ what: String) throws -> String { try ConfigLoader.string(node, what, file: file) }

        func wrap<T>(_ node: Node, _ body: () throws -> T) throws -> T {
            try ConfigLoader.wrap(node, file: file, body)
        }

        func problem(_ node: Node, _ message: String) -> SluiceError {
            ConfigLoader.problem(node, message, file: file)
        }
    }

    /// `YYYY-MM-DD` (the day's start, UTC) or a UTC timestamp (`YYYY-MM-DDTHH:MM:SSZ`).
    public static func instant(_ text: String) throws -> Timestamp {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        do {
            return try Timestamp(parsing: trimmed.count == 10 ? trimmed + "T00:00:00Z" : trimmed)
        } catch {
            throw SluiceError.invalidInput("'\(text)' is not a date (YYYY-MM-DD) or a UTC timestamp")
        }
    }
}
