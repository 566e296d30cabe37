import Foundation

/// A non-negative-or-negative decimal number with exactly nine fractional digits, held as an integer
/// count of billionths. Every operation is exact or throws; nothing passes through binary floating point.
public struct ExactDecimal: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number of fractional digits kept.
    public static let scale = 9
    /// 10^scale.
    public static let unitsPerOne: Int64 = 1_000_000_000

    /// The value × 10^9.
    public let units: Int64

    /// Creates a value from its count of billionths.
    public init(units: Int64) {
        self.units = units
    }

    /// Zero.
    public static let zero = ExactDecimal(units: 0)

    /// Parses plain decimal notation: optional sign, digits, optional `.` and up to nine digits.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) for anything else, including `nan`, `inf`,
    ///   exponents, more than nine fractional digits and values beyond ±9,223,372,036.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func fail(_ why: String) -> SluiceError {
            SluiceError.invalidInput("'\(text)' is not a valid amount: \(why)")
        }
        var bytes = Substring(trimmed).utf8[...]
        let lowered = trimmed.lowercased()
        if ["nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"].contains(lowered) {
            throw fail("it must be a finite number")
        }
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var integer: Int64 = 0
        var fraction: Int64 = 0
        var fractionDigits = 0
        var sawDigit = false
        var sawPoint = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard !sawPoint else { throw fail("it has two decimal points") }
                sawPoint = true
                continue
            }
            guard byte >= 48 && byte <= 57 else {
                throw fail("use plain decimal notation such as 12.50")
            }
            sawDigit = true
            let digit = Int64(byte - 48)
            if sawPoint {
                fractionDigits += 1
                guard fractionDigits <= ExactDecimal.scale else {
                    throw fail("at most \(ExactDecimal.scale) decimal places are kept")
                }
                fraction = fraction * 10 + digit
            } else {
                let (times10, overflow1) = integer.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { throw fail("it is too large") }
                integer = sum
            }
        }
        guard sawDigit else { throw fail("it has no digits") }
        for _ in fractionDigits..<ExactDecimal.scale { fraction *= 10 }
        let (scaled, overflow1) = integer.multipliedReportingOverflow(by: ExactDecimal.unitsPerOne)
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        guard !overflow1, !overflow2 else { throw fail("it is too large") }
        self.units = negative ? -total : total
    }

    /// Converts a Foundation `Decimal` (as decoded from JSON) exactly.
    public init(_ decimal: Decimal) throws {
        guard decimal.isFinite else {
            throw SluiceError.invalidInput("'\(decimal)' is not a valid amount: it must be a finite number")
        }
        try self.init(parsing: "\(decimal)")
    }

    /// The exact value as a Foundation `Decimal`.
    public var decimal: Decimal {
        let magnitude = Decimal(units.magnitude)
        return Decimal(sign: units < 0 ? .minus : .plus, exponent: -ExactDecimal.scale, significand: magnitude)
    }

    /// Plain decimal notation without trailing zeros ("0.1", "12", "-3.25").
    public var description: String {
        let magnitude = units.magnitude
        let integer = magnitude / UInt64(ExactDecimal.unitsPerOne)
        var fraction = String(magnitude % UInt64(ExactDecimal.unitsPerOne))
        fraction = String(repeating: "0", count: ExactDecimal.scale - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return (units < 0 ? "-" : "") + String(integer) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// Whether the value is below zero.
    public var isNegative: Bool { units < 0 }

    /// The exact sum.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) on overflow.
    public func adding(_ other: ExactDecimal) throws -> ExactDecimal {
        let (sum, overflow) = units.addingReportingOverflow(other.units)
        guard !overflow else { throw SluiceError.invalidInput("the sum of \(self) and \(other) is too large") }
        return ExactDecimal(units: sum)
    }

    /// The exact product.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) when the product needs more than nine decimal
    ///   places or does not fit.
    public func multiplied(by other: ExactDecimal) throws -> ExactDecimal {
        let product = Int128(units) * Int128(other.units)
        let (quotient, remainder) = product.quotientAndRemainder(dividingBy: Int128(ExactDecimal.unitsPerOne))
        guard remainder == 0 else {
            throw SluiceError.invalidInput(
                "\(self) × \(other) needs more than \(ExactDecimal.scale) decimal places; give the amount explicitly")
        }
        guard let units = Int64(exactly: quotient) else {
            throw SluiceError.invalidInput("\(self) × \(other) is too large")
        }
        return ExactDecimal(units: units)
    }

    public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool { lhs.units < rhs.units }
}

extension ExactDecimal: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            try self.init(parsing: text)
        } else {
            try self.init(container.decode(Decimal.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(decimal)
    }
}
