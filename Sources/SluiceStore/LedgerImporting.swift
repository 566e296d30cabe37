import SluiceCore

/// What a unit of work can tell about the database it runs on, for a copy between two databases.
package protocol LedgerIdentifying: StorageReader {
    /// A name for the database itself, the same whichever path, URL or connection reaches it: two
    /// units that give the same identity run on one database.
    func databaseIdentity() throws -> String
    /// Whether the database holds no record, no diff and no event.
    func holdsNothing() throws -> Bool
}

/// A unit of work that can take a whole ledger copied from another database (`sluice db copy`).
///
/// Only an empty database takes one: the import is the one way records enter without appending
/// new events, and events enter with the sequence numbers they were given, so it must never mix
/// with a ledger already there. Both backends implement it on their write transactions.
package protocol LedgerImporting: StorageWriter, LedgerIdentifying {
    /// Stores every record, diff and event of `ledger` as they are: ids, states, histories and event
    /// sequence numbers kept, running cost sums rebuilt from the records. New events appended after
    /// the unit commits are numbered after the highest copied one.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) when the database holds any record or event, or
    ///   when the events are not in strictly increasing sequence order from 1 up, or a currency's cost
    ///   total would pass what the running sums hold exactly; nothing is stored.
    func importLedger(_ ledger: LedgerSnapshot) throws
    /// Stores a budget's row alone, without its event.
    func putBudgetRow(_ budget: Budget) throws
    /// Stores a currency rate's row alone, without its event.
    func putRateRow(_ rate: CurrencyRate) throws
}

extension LedgerImporting {
    /// Stores the ledger's budgets, their windows' spend, the holds in flight, the currency rates and
    /// the test quarantines, as they were.
    package func importBudgets(_ ledger: LedgerSnapshot) throws {
        for budget in ledger.budgets { try putBudgetRow(budget) }
        for spend in ledger.budgetSpends {
            _ = try changeSpend(
                spend.scope, window: spend.windowKey, committed: spend.committed, held: spend.held, limit: nil)
            if spend.softFired > 0 { try setSoftFired(spend.scope, window: spend.windowKey, percent: spend.softFired) }
        }
        for hold in ledger.budgetHolds { try putHold(hold) }
        for rate in ledger.currencyRates { try putRateRow(rate) }
        for quarantine in ledger.testQuarantines { try putTestQuarantine(quarantine, event: nil) }
    }

    /// The checks both backends make before importing, inside the importing unit.
    package func checkImportable(_ ledger: LedgerSnapshot) throws {
        guard try holdsNothing() else {
            throw SluiceError.invalidInput(
                "the destination already holds records or events; a ledger is copied only into an empty database")
        }
        var previous: Int64 = 0
        for event in ledger.events {
            guard event.sequence > previous else {
                throw SluiceError.invalidInput(
                    "cannot import event \(event.sequence): copied events must have increasing sequence numbers "
                        + "from 1 up")
            }
            previous = event.sequence
        }
        // The database is empty, so each currency's running sums will hold exactly these records.
        var totals: [Currency: Int64] = [:]
        for cost in ledger.costs {
            let (sum, overflow) = totals[cost.currency, default: 0].addingReportingOverflow(cost.pricedUnits)
            guard !overflow else {
                throw SluiceError.invalidInput(
                    "cannot import the cost records: their \(cost.currency.code) total passes "
                        + "\(ExactDecimal(units: .max)), the most kept exactly")
            }
            totals[cost.currency] = sum
        }
    }
}
