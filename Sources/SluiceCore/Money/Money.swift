/// An ISO 4217 currency code: three upper-case ASCII letters.
public struct Currency: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The three-letter code.
    public let code: String

    /// Validates a currency code.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) unless `code` is three upper-case letters A–Z.
    public init(_ code: String) throws {
        guard code.utf8.count == 3, code.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            throw SluiceError.invalidInput(
                "'\(code)' is not a currency code: ISO 4217 codes are three upper-case letters, such as USD")
        }
        self.code = code
    }

    /// US dollars, the default currency.
    public static let usd = try! Currency("USD")

    public var description: String { code }

    public static func < (lhs: Currency, rhs: Currency) -> Bool { lhs.code < rhs.code }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}

/// An exact amount of one currency. Amounts of different currencies are never added together.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    /// The exact amount.
    public let amount: ExactDecimal
    /// Its currency.
    public let currency: Currency

    /// Creates an amount of money.
    public init(amount: ExactDecimal, currency: Currency) {
        self.amount = amount
        self.currency = currency
    }

    /// Adds two amounts of the same currency exactly.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) when the currencies differ or the sum overflows.
    public func adding(_ other: Money) throws -> Money {
        guard currency == other.currency else {
            throw SluiceError.invalidInput(
                "cannot add \(other.currency) to \(currency): currencies are never summed together")
        }
        return Money(amount: try amount.adding(other.amount), currency: currency)
    }

    public var description: String { "\(amount) \(currency)" }
}
