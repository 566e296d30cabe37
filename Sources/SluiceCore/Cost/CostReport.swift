import Foundation

/// What `sluice cost report --by` groups spend by.
public enum CostReportDimension: String, CaseIterable, Codable, Sendable {
    case project, workstream, task, worker, model
    case resourceType = "resource_type"
    case outcome
}

/// What a storage groups cost records by for a report. The first three read the daily running sums;
/// the others read the records' metadata.
public enum CostReportKey: String, Sendable {
    case project, model, resourceType, workstream, task, worker
    /// `task:ID` for a cost of a task's attempt, else `patch:ID` for one of a patch (a gate's), else none.
    case attribution
}

/// One group of a report in one currency.
public struct CostReportRow: Hashable, Sendable, Codable {
    /// The group's key; nil for records that have none (no project, no task…).
    public var key: String?
    public var currency: Currency
    public var amount: ExactDecimal
    public var records: Int
    /// Records whose amount is not a price (`amount_source` "unpriced").
    public var unpriced: Int

    public init(key: String?, currency: Currency, amount: ExactDecimal, records: Int, unpriced: Int) {
        self.key = key
        self.currency = currency
        self.amount = amount
        self.records = records
        self.unpriced = unpriced
    }
}

/// The days a report covers, in UTC: from `since` (included) to `until` (excluded), each
/// `YYYY-MM-DD` or nil for no bound.
public struct CostReportRange: Hashable, Sendable {
    public var since: String?
    public var until: String?

    /// - Throws: `invalidInput` for a date that is not `YYYY-MM-DD`, or an empty range.
    public init(since: String? = nil, until: String? = nil) throws {
        for (option, value) in [("--since", since), ("--until", until)] {
            guard let value else { continue }
            guard (try? Timestamp(parsing: value + "T00:00:00.000Z")) != nil else {
                throw SluiceError.invalidInput("\(option) takes a date as YYYY-MM-DD (UTC), got '\(value)'")
            }
        }
        if let since, let until, since >= until {
            throw SluiceError.invalidInput("--since \(since) is not before --until \(until): the range is empty")
        }
        self.since = since
        self.until = until
    }
}
