import Foundation
import SluiceCore
import SluiceStore

extension BudgetService {
    /// Records a rate from one currency to another, in force from now until a newer one for the pair:
    /// costs recorded from now on, and estimates held from now on, count through it against budgets in
    /// `to`. A `budget` event (entity `rate:FROM/TO`) keeps it.
    ///
    /// - Throws: `invalidInput` as ``CurrencyRate`` checks it (nothing is recorded).
    @discardableResult
    public func setRate(from: Currency, to: Currency, rate: ExactDecimal, quotedOn: String, source: String)
        async throws -> CurrencyRate
    {
        let context = self.context
        let now = context.clock.now()
        let rate = try CurrencyRate(from: from, to: to, rate: rate, quotedOn: quotedOn, source: source, recordedAt: now)
        // A day from now in UTC is today somewhere; later than that, the rate was not quoted yet.
        let latest = String(now.adding(milliseconds: 86_400_000).description.prefix(10))
        guard quotedOn <= latest else {
            throw SluiceError.invalidInput(
                "a rate's date is the day it was quoted, not one to come: \(quotedOn) is later than \(latest), "
                    + "tomorrow in UTC (the latest day it is anywhere)")
        }
        return try await context.storage.write { tx in
            try tx.putRate(
                rate,
                event: context.event(
                    .budget, "rate:\(from)/\(to)", from: nil, to: "recorded", reason: rate.summary, at: now,
                    payload: [
                        "operation": .string("rate"), "from": .string(from.code), "to": .string(to.code),
                        "rate": .string(rate.rate.description), "quoted_on": .string(quotedOn),
                        "source": .string(source),
                    ]))
            return rate
        }
    }

    /// Every currency rate on record, by pair and time recorded (the newest of a pair is in force).
    public func rates() async throws -> [CurrencyRate] {
        try await context.storage.read { try $0.currencyRates() }
    }

    /// The currency the budget of `scope` had when it was last set, from its events: what a removed
    /// budget's spend is in.
    static func lastCurrency(of scope: BudgetScope, _ tx: any StorageReader) throws -> Currency? {
        // Its set and remove events carry the budget itself (others, a cost's currency).
        for event in try tx.events(entityID: scope.description, after: 0, limit: nil).reversed()
        where event.toState == "set" || event.fromState == "set" {
            if case .string(let code) = event.payload["currency"], let currency = try? Currency(code) {
                return currency
            }
        }
        return nil
    }
}
