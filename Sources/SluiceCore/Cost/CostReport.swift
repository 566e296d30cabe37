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
    /// Records without an amount: usage no price covers and no cost the agent reported.
    public var unpriced: Int
    /// Priced records whose agent reported a cost of its own that differs from the price beyond
    /// ``ReportedCost/disagrees(priced:reported:)``'s tolerance.
    public var disagreeing: Int
    /// Over the disagreeing records: what the agents reported less what the prices say (signed).
    public var reportedDifference: ExactDecimal

    public init(
        key: String?, currency: Currency, amount: ExactDecimal, records: Int, unpriced: Int, disagreeing: Int = 0,
        reportedDifference: ExactDecimal = .zero
    ) {
        self.key = key
        self.currency = currency
        self.amount = amount
        self.records = records
        self.unpriced = unpriced
        self.disagreeing = disagreeing
        self.reportedDifference = reportedDifference
    }

    enum CodingKeys: String, CodingKey {
        case key, currency, amount, records, unpriced, disagreeing
        case reportedDifference = "reported_difference"
    }
}

extension CostReportKey {
    /// One record's key, as the storages compute it from its columns and metadata.
    public func key(of cost: CostRecord) -> String? {
        func text(_ name: String) -> String? {
            switch cost.metadata[name] {
            case .string(let value)?: value
            case .number(let value)?: value.description
            default: nil
            }
        }
        return switch self {
        case .project: cost.projectID
        case .model: cost.resourceName.flatMap { $0.isEmpty ? nil : $0 }
        case .resourceType: cost.resourceType.rawValue
        case .workstream: text("workstream_id")
        case .task: text("task_id")
        case .worker: text("worker_id")
        case .attribution: text("task_id").map { "task:" + $0 } ?? text("ledger_id").map { "patch:" + $0 }
        }
    }
}

/// An agent's own figure for what its work cost, beside the price Sluice computed.
public enum ReportedCost {
    /// The least difference that counts: a tenth of a thousandth of the currency.
    public static let floor = ExactDecimal(units: 100_000)

    /// Whether `reported` differs from `priced` by more than 5 % of `priced` (and more than
    /// ``floor``): more than rounding or a provider's price change between table updates.
    public static func disagrees(priced: ExactDecimal, reported: ExactDecimal) -> Bool {
        let difference = Int128(reported.units) - Int128(priced.units)
        let tolerance = max(Int128(priced.units) / 20, Int128(floor.units))
        return difference.magnitude > tolerance.magnitude
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
