import Foundation
import SluiceCore
import Testing

@Suite("Exact money")
struct MoneyTests {
    func decimal(_ text: String) throws -> ExactDecimal { try ExactDecimal(parsing: text) }

    @Test("ten times 0.1 is exactly 1")
    func tenTimesOneTenth() throws {
        var total = ExactDecimal.zero
        for _ in 0..<10 { total = try total.adding(decimal("0.1")) }
        #expect(total == (try decimal("1")))
        #expect(total.description == "1")
    }

    @Test("0.1 + 0.2 is exactly 0.3")
    func pointOnePlusPointTwo() throws {
        #expect(try decimal("0.1").adding(decimal("0.2")) == (try decimal("0.3")))
    }

    @Test(
        "quantity × rate is exact",
        arguments: [
            ("1500", "0.000003", "0.0045"), ("3", "0.1", "0.3"), ("0.5", "0.5", "0.25"), ("12345", "0.01", "123.45"),
        ])
    func product(quantity: String, rate: String, expected: String) throws {
        #expect(try decimal(quantity).multiplied(by: decimal(rate)).description == expected)
    }

    @Test("a product needing more than nine decimal places is refused, not rounded")
    func productTooPrecise() throws {
        #expect(throws: SluiceError.self) { try decimal("0.00001").multiplied(by: decimal("0.00001")) }
    }

    @Test(
        "parsing keeps the value exactly",
        arguments: ["0", "0.1", "12.5", "9223372036.854775807", "0.000000001", "-3.25"])
    func parseRoundTrip(text: String) throws {
        #expect(try decimal(text).description == text)
    }

    @Test(
        "parsing rejects non-numbers, non-finite values and too many decimals",
        arguments: [
            "", "abc", "nan", "NaN", "inf", "-Infinity", "1e5", "0.1234567891", "1.2.3", "9223372037", "12,5", "-",
        ])
    func parseRejects(text: String) {
        #expect {
            try ExactDecimal(parsing: text)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
    }

    @Test("JSON encodes the exact decimal and decodes it back")
    func json() throws {
        let value = try decimal("0.1")
        let text = try SluiceJSON.line([value])
        #expect(text == "[0.1]")
        let decoded = try JSONDecoder().decode([ExactDecimal].self, from: Data("[0.1, 123456789.123456789]".utf8))
        #expect(decoded == [value, try decimal("123456789.123456789")])
    }

    @Test("currency codes are three upper-case letters", arguments: ["USD", "EUR", "JPY"])
    func currencyValid(code: String) throws {
        #expect(try Currency(code).code == code)
    }

    @Test("bad currency codes are rejected", arguments: ["usd", "US", "USDT", "U$D", "", "ÉUR"])
    func currencyInvalid(code: String) {
        #expect {
            try Currency(code)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
    }

    @Test("different currencies are never added together")
    func noMixing() throws {
        let dollars = Money(amount: try decimal("1"), currency: .usd)
        let euros = Money(amount: try decimal("1"), currency: try Currency("EUR"))
        #expect(throws: SluiceError.self) { try dollars.adding(euros) }
        #expect(try dollars.adding(dollars).amount == (try decimal("2")))
    }

    @Test("overflow is an error, not a wrap")
    func overflow() throws {
        let big = try decimal("9223372036")
        #expect(throws: SluiceError.self) { try big.adding(big) }
    }

    @Test("a cost record refuses a negative amount and an amount that is not quantity × rate")
    func costRecordChecks() throws {
        let now = Timestamp(milliseconds: 0)
        #expect(throws: SluiceError.self) {
            try CostRecord(
                costID: .make(), resourceType: .apiCall, amount: decimal("-1"), currency: .usd, recordedAt: now)
        }
        let usage = CostUsage(quantity: try decimal("10"), unit: "tokens", rate: try decimal("0.5"))
        #expect(throws: SluiceError.self) {
            try CostRecord(
                costID: .make(), resourceType: .apiCall, amount: decimal("4"), currency: .usd, usage: usage,
                recordedAt: now)
        }
        let record = try CostRecord(
            costID: .make(), resourceType: .apiCall, amount: decimal("5"), currency: .usd, usage: usage, recordedAt: now
        )
        #expect(record.money?.description == "5 USD")
    }

    @Test("an unpriced cost record has no amount: null in JSON, and the key is still required")
    func unpricedRecordJSON() throws {
        let record = try CostRecord(
            costID: .make(), resourceType: .apiCall, resourceName: "mystery", amount: nil, currency: .usd,
            recordedAt: Timestamp(milliseconds: 0))
        #expect(record.isUnpriced && record.money == nil && record.pricedUnits == 0)
        let text = try SluiceJSON.line(record)
        #expect(text.contains("\"amount\":null"), "\(text)")
        let back = try SluiceJSON.decode(CostRecord.self, from: Data(text.utf8), what: "a cost")
        #expect(back == record)
        let missing = text.replacingOccurrences(of: "\"amount\":null,", with: "")
        #expect(!missing.contains("amount"))
        #expect(throws: (any Error).self) {
            try SluiceJSON.decode(CostRecord.self, from: Data(missing.utf8), what: "a cost")
        }
    }
}
