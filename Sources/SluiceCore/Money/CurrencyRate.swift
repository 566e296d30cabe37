/// An explicit rate from one currency to another, with the date it was quoted on and where it came
/// from: the only way a cost or an estimate in one currency counts against a budget in another.
///
/// A rate is in force from the moment it is recorded until a newer one for the same pair is
/// recorded; rates are never changed or removed, so an amount converted once converts the same way
/// again (a deleted cost is taken back out by exactly what it added).
public struct CurrencyRate: Hashable, Sendable, Codable {
    /// The currency converted from.
    public var from: Currency
    /// The currency converted to.
    public var to: Currency
    /// How many units of `to` one unit of `from` is worth.
    public var rate: ExactDecimal
    /// The day the rate was quoted on (`YYYY-MM-DD`), as its source gives it.
    public var quotedOn: String
    /// Where the rate came from (a bank's reference rate, an invoice), for the record.
    public var source: String
    /// When it was recorded: it converts amounts of that time and later.
    public var recordedAt: Timestamp

    /// The largest rate taken: a larger one is far more likely a typing error than a real rate.
    public static let maxRate = ExactDecimal(units: 1_000_000 * ExactDecimal.unitsPerOne)
    /// The longest source kept.
    public static let maxSourceLength = 200

    /// - Throws: `invalidInput` when the currencies are the same, the rate is not above zero or above
    ///   ``maxRate``, the date is not `YYYY-MM-DD`, or the source is empty, too long or has control
    ///   characters.
    public init(
        from: Currency, to: Currency, rate: ExactDecimal, quotedOn: String, source: String, recordedAt: Timestamp
    ) throws {
        guard from != to else {
            throw SluiceError.invalidInput("a rate converts one currency to another, not \(from) to itself")
        }
        guard rate.units > 0, rate <= Self.maxRate else {
            throw SluiceError.invalidInput(
                "a rate must be above 0 and at most \(Self.maxRate) \(to) per \(from), got \(rate)")
        }
        guard Self.isCalendarDay(quotedOn) else {
            throw SluiceError.invalidInput(
                "a rate's date is the day it was quoted, a real day as YYYY-MM-DD, got '\(quotedOn)'")
        }
        guard !source.allSatisfy(\.isWhitespace), source.count <= Self.maxSourceLength,
            source.first?.isWhitespace == false, source.last?.isWhitespace == false,
            !source.unicodeScalars.contains(where: Self.isHidden)
        else {
            throw SluiceError.invalidInput(
                "a rate needs its source: 1 to \(Self.maxSourceLength) characters on one line, without control "
                    + "or direction characters or spaces around them, such as 'ECB reference rate'")
        }
        self.from = from
        self.to = to
        self.rate = rate
        self.quotedOn = quotedOn
        self.source = source
        self.recordedAt = recordedAt
    }

    /// Whether `text` is a day of the calendar as `YYYY-MM-DD` (year 1 to 9999): 2026-02-29 is not.
    static func isCalendarDay(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            year >= 1, (1...12).contains(month)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }

    /// A character a source must not have: a control character, a line or paragraph separator, or a
    /// format character (such as U+202E, which reverses the text after it on a terminal).
    static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    /// `amount` of `from` in `to`, rounded up to the ninth decimal place: converted spend is never
    /// understated.
    ///
    /// - Throws: `invalidInput` when the result does not fit.
    public func convert(_ amount: ExactDecimal) throws -> ExactDecimal {
        let product = Int128(amount.units) * Int128(rate.units)
        var (quotient, remainder) = product.quotientAndRemainder(dividingBy: Int128(ExactDecimal.unitsPerOne))
        if remainder > 0 { quotient += 1 }
        guard let units = Int64(exactly: quotient) else {
            throw SluiceError.invalidInput("\(amount) \(from) at \(rate) \(to) per \(from) is too large")
        }
        return ExactDecimal(units: units)
    }

    /// The rate in force at `time` for `from` to `to` among `rates`: the newest recorded at or before it.
    public static func inForce(_ rates: [CurrencyRate], from: Currency, to: Currency, at time: Timestamp)
        -> CurrencyRate?
    {
        rates.filter { $0.from == from && $0.to == to && $0.recordedAt <= time }.max { $0.recordedAt < $1.recordedAt }
    }

    /// The error for a second rate of one pair recorded at the same instant as another.
    public static func sameInstant(_ rate: CurrencyRate) -> SluiceError {
        SluiceError(
            code: .conflict,
            message:
                "a rate from \(rate.from) to \(rate.to) was already recorded at \(rate.recordedAt); record it again")
    }

    /// `1 EUR = 1.08 USD (2026-11-27, ECB reference rate)`.
    public var summary: String { "1 \(from) = \(rate) \(to) (\(quotedOn), \(source))" }

    enum CodingKeys: String, CodingKey {
        case from, to, rate, source
        case quotedOn = "quoted_on"
        case recordedAt = "recorded_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            from: container.decode(Currency.self, forKey: .from), to: container.decode(Currency.self, forKey: .to),
            rate: container.decode(ExactDecimal.self, forKey: .rate),
            quotedOn: container.decode(String.self, forKey: .quotedOn),
            source: container.decode(String.self, forKey: .source),
            recordedAt: container.decode(Timestamp.self, forKey: .recordedAt))
    }
}
