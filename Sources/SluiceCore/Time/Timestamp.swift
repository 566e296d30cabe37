/// An instant with millisecond precision, written as ISO 8601 UTC (`2026-11-26T07:06:38.123Z`).
///
/// The written form has a fixed width, so text comparison orders timestamps correctly.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let milliseconds: Int64

    /// Creates a timestamp from milliseconds since the Unix epoch.
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…]Z` (UTC only; fractions beyond milliseconds are truncated).
    ///
    /// - Throws: ``SluiceError`` with code `invalidInput`.
    public init(parsing text: String) throws {
        var utf8 = text
        self = try utf8.withUTF8 { try Timestamp(utf8: $0, text: text) }
    }

    private init(utf8 bytes: UnsafeBufferPointer<UInt8>, text: String) throws {
        func fail() -> SluiceError {
            SluiceError.invalidInput("'\(text)' is not an ISO 8601 UTC timestamp (YYYY-MM-DDTHH:MM:SS.sssZ)")
        }
        func number(_ range: Range<Int>) throws -> Int64 {
            var value: Int64 = 0
            for index in range {
                guard index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 else { throw fail() }
                value = value * 10 + Int64(bytes[index] - 48)
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
            bytes.last == UInt8(ascii: "Z")
        else { throw fail() }
        let year = try number(0..<4)
        let month = try number(5..<7)
        let day = try number(8..<10)
        let hour = try number(11..<13)
        let minute = try number(14..<16)
        let second = try number(17..<19)
        var millis: Int64 = 0
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 21 else { throw fail() }
            let digits = bytes.count - 1 - 20
            let fraction = try number(20..<(bytes.count - 1))
            var scaled = fraction
            if digits < 3 {
                for _ in digits..<3 { scaled *= 10 }
            } else {
                for _ in 3..<digits { scaled /= 10 }
            }
            millis = scaled
        } else if bytes.count != 20 {
            throw fail()
        }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            throw fail()
        }
        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        self.milliseconds = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    }

    /// The ISO 8601 UTC form with milliseconds.
    public var description: String {
        let totalSeconds = Timestamp.floorDivide(milliseconds, 1000)
        let millis = Int(milliseconds - totalSeconds * 1000)
        let days = Timestamp.floorDivide(totalSeconds, 86_400)
        let secondsOfDay = Int(totalSeconds - days * 86_400)
        let (year, month, day) = Timestamp.civilFromDays(days)
        // Written digit by digit into a fixed buffer: this runs several times on every write.
        return String(unsafeUninitializedCapacity: 24) { buffer in
            func put(_ value: Int, _ width: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    buffer[index] = UInt8(48 + value % 10)
                    value /= 10
                }
            }
            put(Int(max(0, min(9999, year))), 4, at: 0)
            buffer[4] = UInt8(ascii: "-")
            put(Int(month), 2, at: 5)
            buffer[7] = UInt8(ascii: "-")
            put(Int(day), 2, at: 8)
            buffer[10] = UInt8(ascii: "T")
            put(secondsOfDay / 3600, 2, at: 11)
            buffer[13] = UInt8(ascii: ":")
            put(secondsOfDay / 60 % 60, 2, at: 14)
            buffer[16] = UInt8(ascii: ":")
            put(secondsOfDay % 60, 2, at: 17)
            buffer[19] = UInt8(ascii: ".")
            put(millis, 3, at: 20)
            buffer[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// The timestamp `milliseconds` later.
    public func adding(milliseconds delta: Int64) -> Timestamp {
        Timestamp(milliseconds: milliseconds + delta)
    }

    /// Seconds from `earlier` to this timestamp.
    public func seconds(since earlier: Timestamp) -> Double {
        Double(milliseconds - earlier.milliseconds) / 1000
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }
}

extension Timestamp: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
