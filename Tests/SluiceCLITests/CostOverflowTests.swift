import Foundation
import SluiceTesting
import Testing

/// Cost totals never overflow or lose exactness.
@Suite("Bad input is bounded: money")
struct CostOverflowTests {
    @Test("a cost that would overflow its currency's total is refused, and totals stay exact")
    func costOverflow() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let first = try await cli.process(["cost", "record", "--type", "api_call", "--amount", "9000000000"])
        #expect(first.status == 0, "\(first.stderr)")
        let second = try await cli.process([
            "cost", "record", "--type", "custom", "--amount", "9000000000", "--project", "q",
        ])
        #expect(second.status == 64, "\(second.stdout)\n\(second.stderr)")
        #expect(second.stderr.contains("USD") && second.stderr.contains("total"), "\(second.stderr)")
        let total = try await cli.process(["cost", "total", "--json"])
        #expect(total.status == 0, "\(total.stderr)")
        #expect(total.stdout == #"{"amount":9000000000,"count":1,"currency":"USD","unpriced":0}"# + "\n")
        #expect(try await cli.process(["cost", "breakdown", "--json"]).status == 0)
        #expect(try await cli.process(["cost", "list", "--json"]).stdout.split(separator: "\n").count == 1)
        // Another currency has its own total.
        #expect(
            try await cli.process([
                "cost", "record", "--type", "api_call", "--amount", "9000000000", "--currency", "EUR",
            ])
            .status == 0)
        // quantity × rate past the range is refused too.
        let product = try await cli.process([
            "cost", "record", "--type", "api_call", "--quantity", "9000000", "--rate", "9000",
        ])
        #expect(product.status == 64 && product.stderr.contains("too large"), "\(product.stderr)")
    }
}
