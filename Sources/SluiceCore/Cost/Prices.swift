import Foundation

/// Tokens of one model, in Sluice's one convention: the four parts of the input never overlap
/// (`input` is read neither from nor into a cache), so `input + cachedInput + cacheWrite +
/// cacheWrite1h` is the whole input. `reasoning` counts reasoning tokens reported apart from
/// `output` (zero where an agent counts them inside its output).
public struct TokenCounts: Hashable, Sendable {
    public var input: Int64
    /// Read from a cache (a cache hit).
    public var cachedInput: Int64
    /// Written into a cache that lives 5 minutes (or for the provider's only duration).
    public var cacheWrite: Int64
    /// Written into a cache that lives 1 hour, where the provider prices that apart.
    public var cacheWrite1h: Int64
    public var output: Int64
    public var reasoning: Int64
    /// Requests these tokens add up (a tier is judged per request).
    public var requests: Int64

    public init(
        input: Int64 = 0, cachedInput: Int64 = 0, cacheWrite: Int64 = 0, cacheWrite1h: Int64 = 0, output: Int64 = 0,
        reasoning: Int64 = 0, requests: Int64 = 1
    ) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.output = output
        self.reasoning = reasoning
        self.requests = requests
    }

    /// Counts whose input *includes* the cached tokens (OpenAI's and Gemini's convention), made
    /// into Sluice's.
    ///
    /// - Throws: `invalidInput` when the cached tokens are more than the input: usage that does not
    ///   add up is refused, never clamped.
    public static func includingCached(
        input total: Int64, cachedInput: Int64, output: Int64, reasoning: Int64 = 0, requests: Int64 = 1
    ) throws -> TokenCounts {
        guard cachedInput <= total else {
            throw SluiceError.invalidInput(
                "inconsistent usage: \(cachedInput) cached input tokens of \(total) input tokens in all")
        }
        return try TokenCounts(
            input: total - cachedInput, cachedInput: cachedInput, output: output, reasoning: reasoning,
            requests: requests
        ).validated()
    }

    /// The whole input: every part of it once.
    public var totalInput: Int64 { input &+ cachedInput &+ cacheWrite &+ cacheWrite1h }

    /// Checks that no count is negative, that the input adds up within range, and that there is at
    /// least one request.
    public func validated() throws -> TokenCounts {
        for (name, value) in [
            ("input", input), ("cached input", cachedInput), ("cache write", cacheWrite),
            ("cache write (1 h)", cacheWrite1h), ("output", output), ("reasoning", reasoning),
        ] where value < 0 {
            throw SluiceError.invalidInput("inconsistent usage: \(value) \(name) tokens")
        }
        guard requests >= 1 else { throw SluiceError.invalidInput("inconsistent usage: \(requests) requests") }
        var sum: Int64 = 0
        for part in [input, cachedInput, cacheWrite, cacheWrite1h, output, reasoning] {
            let (next, overflow) = sum.addingReportingOverflow(part)
            guard !overflow else { throw SluiceError.invalidInput("inconsistent usage: too many tokens to add up") }
            sum = next
        }
        return self
    }
}

/// Prices per 1,000,000 tokens (and per request), exact. A component left out has no price: tokens
/// of it make the usage unpriced, except reasoning tokens, which are priced as output then.
public struct PriceRates: Hashable, Sendable {
    public var input: ExactDecimal?
    public var cachedInput: ExactDecimal?
    public var cacheWrite: ExactDecimal?
    public var cacheWrite1h: ExactDecimal?
    public var output: ExactDecimal?
    public var reasoning: ExactDecimal?
    public var perRequest: ExactDecimal?

    public init(
        input: ExactDecimal? = nil, cachedInput: ExactDecimal? = nil, cacheWrite: ExactDecimal? = nil,
        cacheWrite1h: ExactDecimal? = nil, output: ExactDecimal? = nil, reasoning: ExactDecimal? = nil,
        perRequest: ExactDecimal? = nil
    ) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.output = output
        self.reasoning = reasoning
        self.perRequest = perRequest
    }

    /// These rates with `other`'s where it has one (a tier over its base).
    public func overridden(by other: PriceRates) -> PriceRates {
        PriceRates(
            input: other.input ?? input, cachedInput: other.cachedInput ?? cachedInput,
            cacheWrite: other.cacheWrite ?? cacheWrite, cacheWrite1h: other.cacheWrite1h ?? cacheWrite1h,
            output: other.output ?? output, reasoning: other.reasoning ?? reasoning,
            perRequest: other.perRequest ?? perRequest)
    }

    /// The components by their names in `prices.yml`, those that have a price.
    public var named: [(String, ExactDecimal)] {
        [
            ("input", input), ("cached_input", cachedInput), ("cache_write", cacheWrite),
            ("cache_write_1h", cacheWrite1h), ("output", output), ("reasoning", reasoning),
            ("per_request", perRequest),
        ].compactMap { name, value in value.map { (name, $0) } }
    }

    /// The rates as a JSON object (kept with each priced record).
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: named.map { ($0, .string($1.description)) }))
    }
}

/// A price that replaces the base rates for a whole request whose input (all of it) is more than
/// `aboveInputTokens`, as long-context prices do. Components the tier leaves out keep the base rate.
public struct PriceTier: Hashable, Sendable {
    public var aboveInputTokens: Int64
    public var rates: PriceRates

    public init(aboveInputTokens: Int64, rates: PriceRates) {
        self.aboveInputTokens = aboveInputTokens
        self.rates = rates
    }
}

/// One dated price of one model.
public struct PriceEntry: Hashable, Sendable {
    public var provider: String
    public var model: String
    /// Other names of the model (dated ids, the provider's aliases).
    public var aliases: [String]
    /// A pattern of names (`*` for any run of characters) for ids not listed.
    public var match: String?
    /// The first instant the price applies (inclusive).
    public var effectiveFrom: Timestamp
    /// The instant it stops applying (exclusive); nil while it is current.
    public var effectiveTo: Timestamp?
    public var currency: Currency
    public var rates: PriceRates
    public var tiers: [PriceTier]
    /// Where the entry came from (the default table, a file, an import).
    public var source: String

    public init(
        provider: String, model: String, aliases: [String] = [], match: String? = nil, effectiveFrom: Timestamp,
        effectiveTo: Timestamp? = nil, currency: Currency = .usd, rates: PriceRates, tiers: [PriceTier] = [],
        source: String = ""
    ) {
        self.provider = provider
        self.model = model
        self.aliases = aliases
        self.match = match
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
        self.currency = currency
        self.rates = rates
        self.tiers = tiers.sorted { $0.aboveInputTokens < $1.aboveInputTokens }
        self.source = source
    }

    /// `provider/model@YYYY-MM-DD`: what a priced record keeps to say which entry priced it.
    public var id: String { "\(provider)/\(model)@\(PriceEntry.day(effectiveFrom))" }

    /// Whether the entry applies at `instant`.
    public func isEffective(at instant: Timestamp) -> Bool {
        effectiveFrom <= instant && effectiveTo.map { instant < $0 } ?? true
    }

    /// How well `name` names this model: 3 by its id or an alias, 2 by them without a `provider/`
    /// prefix of `name`, 1 by its pattern, 0 not at all. Names are compared without case.
    public func matchStrength(_ name: String) -> Int {
        let wanted = name.lowercased()
        let bare = wanted.lastIndex(of: "/").map { String(wanted[wanted.index(after: $0)...]) } ?? wanted
        func named(_ candidate: String) -> Bool {
            model.lowercased() == candidate || aliases.contains { $0.lowercased() == candidate }
        }
        if named(wanted) { return 3 }
        if named(bare) { return 2 }
        if let match, PriceEntry.glob(match.lowercased(), matches: bare) { return 1 }
        return 0
    }

    /// `*` matches any run of characters; everything else matches itself.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return pattern == text }
        guard text.hasPrefix(parts[0]), text.hasSuffix(parts[parts.count - 1]),
            text.count >= parts[0].count + parts[parts.count - 1].count
        else { return false }
        var rest = Substring(text.dropFirst(parts[0].count).dropLast(parts[parts.count - 1].count))
        for middle in parts.dropFirst().dropLast() where !middle.isEmpty {
            guard let found = rest.range(of: middle) else { return false }
            rest = rest[found.upperBound...]
        }
        return true
    }

    static func day(_ instant: Timestamp) -> String { String(instant.description.prefix(10)) }
}

/// What pricing some usage gave: the amount and everything needed to check it later.
public struct PriceQuote: Hashable, Sendable {
    public var entryID: String
    public var amount: ExactDecimal
    public var currency: Currency
    /// The rates applied (the tier's where one applied).
    public var rates: PriceRates
    /// The tier's threshold, when the request was priced at a tier.
    public var tier: Int64?
}

/// Why usage could not be priced: it then has no amount (never zero).
public struct Unpriced: Hashable, Sendable, Error {
    public var reason: String
}

/// The price entries in force: the default table, then the project's entries over it.
public struct PriceTable: Sendable {
    /// Entries by layer: a later layer's entry wins wherever it applies.
    public private(set) var layers: [[PriceEntry]]
    /// When the default table's prices were read from the providers (its `taken:`).
    public var taken: String?

    public init(layers: [[PriceEntry]] = [], taken: String? = nil) {
        self.layers = layers
        self.taken = taken
    }

    /// Every entry, later layers first.
    public var entries: [PriceEntry] { layers.reversed().flatMap { $0 } }

    /// Adds a layer over the others.
    public mutating func add(layer: [PriceEntry]) { layers.append(layer) }

    /// The entry that prices `model` at `instant`: the latest layer's, a name or alias before a
    /// pattern, then the latest `effective_from`. Nil when none does.
    public func entry(for model: String, at instant: Timestamp) -> PriceEntry? {
        var best: (layer: Int, strength: Int, entry: PriceEntry)?
        for (layer, entries) in layers.enumerated() {
            for entry in entries where entry.isEffective(at: instant) {
                let strength = entry.matchStrength(model)
                guard strength > 0 else { continue }
                if let current = best {
                    let better =
                        (layer, strength, entry.effectiveFrom.milliseconds)
                        > (current.layer, current.strength, current.entry.effectiveFrom.milliseconds)
                    if !better { continue }
                }
                best = (layer, strength, entry)
            }
        }
        return best?.entry
    }

    /// Prices `counts` of `model` at `instant`.
    ///
    /// - Throws: ``Unpriced`` when no entry prices the model then, or the entry has no price for a
    ///   component the usage has; `invalidInput` for usage that does not add up, or an amount too
    ///   large to keep.
    public func price(_ counts: TokenCounts, model: String, at instant: Timestamp) throws -> PriceQuote {
        let counts = try counts.validated()
        guard let entry = entry(for: model, at: instant) else {
            throw Unpriced(reason: "no price for model \(model) on \(PriceEntry.day(instant))")
        }
        return try Self.price(counts, with: entry)
    }

    /// Prices `counts` with `entry`'s rates (its tier's, when the average request's input is above
    /// the tier's threshold).
    public static func price(_ counts: TokenCounts, with entry: PriceEntry) throws -> PriceQuote {
        var rates = entry.rates
        var tier: Int64?
        let perRequest = counts.totalInput / max(1, counts.requests)
        if let applied = entry.tiers.last(where: { perRequest > $0.aboveInputTokens }) {
            rates = rates.overridden(by: applied.rates)
            tier = applied.aboveInputTokens
        }
        // Reasoning tokens are output unless priced apart.
        let parts: [(String, Int64, ExactDecimal?)] = [
            ("input", counts.input, rates.input), ("cached_input", counts.cachedInput, rates.cachedInput),
            ("cache_write", counts.cacheWrite, rates.cacheWrite),
            ("cache_write_1h", counts.cacheWrite1h, rates.cacheWrite1h), ("output", counts.output, rates.output),
            ("reasoning", counts.reasoning, rates.reasoning ?? rates.output),
        ]
        // Units of 10^-9 per million tokens times tokens: 10^-15 of the currency, summed exactly.
        var total: Int128 = 0
        func add(_ value: Int128) throws {
            let (sum, overflow) = total.addingReportingOverflow(value)
            guard !overflow else { throw SluiceError.invalidInput("the price of this usage is too large to keep") }
            total = sum
        }
        for (name, tokens, rate) in parts where tokens > 0 {
            guard let rate else {
                throw Unpriced(reason: "\(entry.id) has no \(name) price, and the usage has \(tokens) such tokens")
            }
            try add(Int128(tokens) * Int128(rate.units))
        }
        if let request = rates.perRequest { try add(Int128(counts.requests) * Int128(request.units) * 1_000_000) }
        let units = roundHalfEven(total, dividingBy: 1_000_000)
        guard let amount = Int64(exactly: units) else {
            throw SluiceError.invalidInput("the price of this usage is too large to keep")
        }
        return PriceQuote(
            entryID: entry.id, amount: ExactDecimal(units: amount), currency: entry.currency, rates: rates, tier: tier)
    }

    /// `value / divisor`, rounded to the nearest, ties to even (banker's rounding: no drift upward
    /// over many records).
    static func roundHalfEven(_ value: Int128, dividingBy divisor: Int128) -> Int128 {
        let quotient = value / divisor
        let remainder = value % divisor
        let twice = remainder.magnitude * 2
        if twice > divisor.magnitude || (twice == divisor.magnitude && quotient % 2 != 0) {
            return value < 0 ? quotient - 1 : quotient + 1
        }
        return quotient
    }
}
