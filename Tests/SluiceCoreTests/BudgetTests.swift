import Foundation
import SluiceCore
import Testing

@Suite("Budget values")
struct BudgetTests {
    @Test("scopes parse and print back; anything else is refused with the forms allowed")
    func scopes() throws {
        let task = TaskID.make()
        for text in [
            "global", "project:web", "workstream:ui", "task:\(task)", "worker:\(WorkerID.make())",
            "request:\(ExecutionRequestID.make())",
        ] {
            #expect(try BudgetScope(parsing: text).description == text)
        }
        for bad in [
            "", "Global", "project:", "team:x", "task:nope", "project:\(String(repeating: "x", count: 201))",
            "project:a\u{7}b",
        ] {
            #expect(throws: SluiceError.self) { try BudgetScope(parsing: bad) }
        }
    }

    @Test("windows are calendar periods in the budget's time zone")
    func windows() throws {
        let newYork = try #require(TimeZone(identifier: "America/New_York"))
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        let lateNovember = try Timestamp(parsing: "2026-12-01T04:30:00.000Z")  // 23:30 on 30 Nov in New York
        #expect(BudgetWindow.month.key(at: lateNovember, in: newYork) == "2026-11")
        #expect(BudgetWindow.month.key(at: lateNovember, in: berlin) == "2026-12")
        #expect(BudgetWindow.day.key(at: lateNovember, in: newYork) == "2026-11-30")
        #expect(BudgetWindow.none.key(at: lateNovember, in: newYork) == "all")
        // ISO weeks: 1 January 2027 is a Friday, in the last week of 2026.
        #expect(BudgetWindow.week.key(at: try Timestamp(parsing: "2027-01-01T12:00:00.000Z"), in: berlin) == "2026-W53")
        #expect(BudgetWindow.week.key(at: try Timestamp(parsing: "2026-11-30T12:00:00.000Z"), in: berlin) == "2026-W49")
    }

    @Test("soft thresholds cross exactly at their share of the limit, each once")
    func thresholds() throws {
        let now = Timestamp(milliseconds: 0)
        let budget = try Budget(
            scope: .global, limit: ExactDecimal(parsing: "3"), soft: [80, 50, 50], createdAt: now, updatedAt: now)
        #expect(budget.soft == [50, 80])
        #expect(budget.thresholdsCrossed(committed: try ExactDecimal(parsing: "1.499999999"), fired: 0).isEmpty)
        #expect(budget.thresholdsCrossed(committed: try ExactDecimal(parsing: "1.5"), fired: 0) == [50])
        #expect(budget.thresholdsCrossed(committed: try ExactDecimal(parsing: "2.4"), fired: 0) == [50, 80])
        #expect(budget.thresholdsCrossed(committed: try ExactDecimal(parsing: "9"), fired: 50) == [80])
        #expect(budget.thresholdsCrossed(committed: try ExactDecimal(parsing: "9"), fired: 80).isEmpty)
    }

    @Test("an estimate is an amount and a currency; a negative or malformed one is refused")
    func estimates() throws {
        #expect(try CostEstimate(parsing: "2.50") == CostEstimate(amount: ExactDecimal(parsing: "2.5"), currency: .usd))
        let euros = try CostEstimate(parsing: "0.000000001 EUR")
        #expect(euros.currency.code == "EUR" && euros.amount.units == 1)
        #expect(CostEstimate(metadata: [CostEstimate.metadataKey: euros.json]) == euros)
        #expect(CostEstimate(metadata: [CostEstimate.metadataKey: .string("3")]) == nil)
        for bad in ["", "-1", "1 eur", "1 USD extra", "abc", "1e3"] {
            #expect(throws: SluiceError.self) { try CostEstimate(parsing: bad) }
        }
    }
}
