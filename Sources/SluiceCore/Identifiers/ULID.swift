import Synchronization

/// A Universally Unique Lexicographically Sortable Identifier: 48 bits of milliseconds since
/// the Unix epoch followed by 80 bits of randomness, written as 26 characters of Crockford base32.
public struct ULID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The high 64 bits: the 48-bit timestamp and the first 16 bits of randomness.
    public let high: UInt64
    /// The low 64 bits of randomness.
    public let low: UInt64

    /// Creates a ULID from its two 64-bit halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates a ULID from a timestamp and 80 bits of randomness.
    public init(milliseconds: UInt64, randomHigh: UInt16, randomLow: UInt64) {
        self.high = (milliseconds & 0xFFFF_FFFF_FFFF) << 16 | UInt64(randomHigh)
        self.low = randomLow
    }

    /// Parses the canonical 26-character form; lower case and the Crockford aliases I, L, O are accepted.
    ///
    /// - Throws: ``SluiceError`` with code `invalidInput` when the text is not a ULID.
    public init(parsing text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.count == 26 else {
            throw SluiceError.invalidInput("'\(text)' is not a ULID: it must be 26 characters of Crockford base32")
        }
        var value: (UInt64, UInt64) = (0, 0)
        for (index, byte) in bytes.enumerated() {
            guard let digit = ULID.decodeTable[Int(byte)], digit != 0xFF else {
                throw SluiceError.invalidInput("'\(text)' is not a ULID: invalid character at position \(index + 1)")
            }
            if index == 0 && digit > 7 {
                throw SluiceError.invalidInput("'\(text)' is not a ULID: its value exceeds 128 bits")
            }
            // Shift the 128-bit value left by 5 and add the digit.
            value.0 = value.0 << 5 | value.1 >> 59
            value.1 = value.1 << 5 | UInt64(digit)
        }
        self.init(high: value.0, low: value.1)
    }

    /// The milliseconds since the Unix epoch encoded in the identifier.
    public var milliseconds: UInt64 { high >> 16 }

    /// The canonical 26-character upper-case form.
    public var description: String {
        String(unsafeUninitializedCapacity: 26) { chars in
            var hi = high
            var lo = low
            for index in stride(from: 25, through: 0, by: -1) {
                chars[index] = ULID.alphabet[Int(lo & 0x1F)]
                lo = lo >> 5 | hi << 59
                hi >>= 5
            }
            return 26
        }
    }

    public static func < (lhs: ULID, rhs: ULID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    private static let decodeTable: [UInt8?] = {
        var table = [UInt8?](repeating: 0xFF, count: 256)
        for (value, char) in alphabet.enumerated() {
            table[Int(char)] = UInt8(value)
            if char >= UInt8(ascii: "A") && char <= UInt8(ascii: "Z") {
                table[Int(char) + 32] = UInt8(value)
            }
        }
        for (alias, value) in [("I", 1), ("L", 1), ("O", 0), ("i", 1), ("l", 1), ("o", 0)] {
            table[Int(UInt8(ascii: Unicode.Scalar(alias)!))] = UInt8(value)
        }
        return table
    }()
}

extension ULID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Makes ULIDs that increase strictly within the process, even within one millisecond
/// or when the clock steps back.
public final class ULIDGenerator: Sendable {
    private struct Last {
        var high: UInt64 = 0
        var low: UInt64 = 0
    }

    private let last = Mutex(Last())
    private let clock: any WallClock

    /// Creates a generator that reads time from `clock`.
    public init(clock: any WallClock = SystemClock()) {
        self.clock = clock
    }

    /// The process-wide generator on the system clock.
    public static let shared = ULIDGenerator()

    /// Returns a new ULID greater than every ULID this generator returned before.
    public func next() -> ULID {
        let millis = UInt64(max(0, clock.now().milliseconds))
        return last.withLock { last in
            var candidate = ULID(
                milliseconds: millis, randomHigh: UInt16.random(in: 0...UInt16.max),
                randomLow: UInt64.random(in: 0...UInt64.max))
            if (candidate.high, candidate.low) <= (last.high, last.low) {
                // Same millisecond (or the clock went back): increment the previous value by one.
                let (low, overflow) = last.low.addingReportingOverflow(1)
                candidate = ULID(high: overflow ? last.high + 1 : last.high, low: low)
            }
            last.high = candidate.high
            last.low = candidate.low
            return candidate
        }
    }
}
