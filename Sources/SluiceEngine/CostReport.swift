import SluiceCore
import SluiceStore

/// A report of spend grouped by one dimension, exact per currency.
public struct CostReport: Hashable, Sendable {
    public var dimension: CostReportDimension
    public var rows: [CostReportRow]
    /// With `--by outcome`, per currency: what all the work cost per patch that landed, and the share
    /// spent on work that was quarantined, rejected, rolled back or produced nothing.
    public var outcomes: [OutcomeSummary]

    public struct OutcomeSummary: Hashable, Sendable, Codable {
        public var currency: Currency
        public var total: ExactDecimal
        public var landedPatches: Int
        /// Total ÷ landed patches, rounded half to even to nine places; nil when none landed.
        public var costPerLandedPatch: ExactDecimal?
        public var wasted: ExactDecimal
        /// Wasted ÷ total, in percent with one decimal ("12.5").
        public var wastedPercent: String

        enum CodingKeys: String, CodingKey {
            case currency, total
            case landedPatches = "landed_patches"
            case costPerLandedPatch = "cost_per_landed_patch"
            case wasted
            case wastedPercent = "wasted_percent"
        }
    }

    /// The outcomes work can have, as `--by outcome` names them.
    public static let outcomeNames = [
        "landed", "quarantined", "rejected", "rolled_back", "nothing", "in_flight", "unattributed",
    ]
    static let wastedOutcomes: Set<String> = ["quarantined", "rejected", "rolled_back", "nothing"]
}

extension CostService {
    /// Spend grouped by `dimension` over the UTC days of `range`, exact per currency, with the
    /// records whose amount is not a price counted apart. By project, model (the record's resource
    /// name) and resource type it reads the daily running sums.
    public func report(by dimension: CostReportDimension, _ range: CostReportRange = try! CostReportRange())
        async throws -> CostReport
    {
        let key: CostReportKey =
            switch dimension {
            case .project: .project
            case .model: .model
            case .resourceType: .resourceType
            case .workstream: .workstream
            case .task: .task
            case .worker: .worker
            case .outcome: .attribution
            }
        return try await context.storage.read { tx in
            // One order on every backend: by key (records without one last), then currency.
            var rows = try tx.costReport(by: key, range)
            try Self.addDisagreements(try tx.disagreeingCosts(range), by: key, to: &rows)
            rows.sort {
                ($0.key == nil ? 1 : 0, $0.key ?? "", $0.currency) < ($1.key == nil ? 1 : 0, $1.key ?? "", $1.currency)
            }
            guard dimension == .outcome else { return CostReport(dimension: dimension, rows: rows, outcomes: []) }
            return try Self.outcomes(rows, tx)
        }
    }

    /// Counts each record whose agent's own cost disagrees with its price into its group's row, with
    /// the difference. The stored flag only picks the records out: the difference and the tolerance
    /// are worked out again from the amount and the reported figure.
    static func addDisagreements(_ costs: [CostRecord], by key: CostReportKey, to rows: inout [CostReportRow]) throws {
        guard !costs.isEmpty else { return }
        var index: [String: Int] = [:]
        for (position, row) in rows.enumerated() { index["\(row.key ?? "\u{0}")\u{1}\(row.currency)"] = position }
        for cost in costs {
            guard let priced = cost.amount, case .string(let text)? = cost.metadata["reported_amount"],
                let reported = try? ExactDecimal(parsing: text),
                ReportedCost.disagrees(priced: priced, reported: reported),
                let position = index["\(key.key(of: cost) ?? "\u{0}")\u{1}\(cost.currency)"]
            else { continue }
            rows[position].disagreeing += 1
            rows[position].reportedDifference = try rows[position].reportedDifference.adding(
                ExactDecimal(units: reported.units - priced.units))
        }
    }

    /// Attributed rows (`task:ID`, `patch:ID`) regrouped by what became of the work.
    static func outcomes(_ rows: [CostReportRow], _ tx: any StorageReader) throws -> CostReport {
        struct Key: Hashable {
            var outcome: String
            var currency: Currency
        }
        var grouped: [Key: CostReportRow] = [:]
        var landed: [Currency: Set<String>] = [:]
        for row in rows {
            var outcome = "unattributed"
            var ledger: LedgerID?
            if let key = row.key, key.hasPrefix("task:"), let id = try? TaskID(parsing: String(key.dropFirst(5))),
                let task = try tx.task(id)
            {
                switch task.state {
                case .queued, .running: outcome = "in_flight"
                case .failed, .cancelled: outcome = "nothing"
                case .done:
                    ledger = task.ledgerID
                    outcome = task.ledgerID == nil ? "nothing" : "in_flight"
                }
            } else if let key = row.key, key.hasPrefix("patch:") {
                ledger = try? LedgerID(parsing: String(key.dropFirst(6)))
            }
            if let ledger, let patch = try tx.patch(ledger) {
                switch patch.state {
                case .committed:
                    outcome = "landed"
                    landed[row.currency, default: []].insert(ledger.description)
                case .quarantined: outcome = "quarantined"
                case .dropped: outcome = "rejected"
                case .rolledBack: outcome = "rolled_back"
                default: outcome = "in_flight"
                }
            }
            let groupKey = Key(outcome: outcome, currency: row.currency)
            var group =
                grouped[groupKey]
                ?? CostReportRow(key: outcome, currency: row.currency, amount: .zero, records: 0, unpriced: 0)
            group.amount = try group.amount.adding(row.amount)
            group.records += row.records
            group.unpriced += row.unpriced
            group.disagreeing += row.disagreeing
            group.reportedDifference = try group.reportedDifference.adding(row.reportedDifference)
            grouped[groupKey] = group
        }
        let order = Dictionary(uniqueKeysWithValues: CostReport.outcomeNames.enumerated().map { ($1, $0) })
        let sorted = grouped.values.sorted {
            (order[$0.key ?? ""] ?? 99, $0.currency) < (order[$1.key ?? ""] ?? 99, $1.currency)
        }
        var summaries: [CostReport.OutcomeSummary] = []
        for currency in Set(sorted.map(\.currency)).sorted() {
            let mine = sorted.filter { $0.currency == currency }
            var total = ExactDecimal.zero
            var wasted = ExactDecimal.zero
            for row in mine {
                total = try total.adding(row.amount)
                if CostReport.wastedOutcomes.contains(row.key ?? "") { wasted = try wasted.adding(row.amount) }
            }
            let count = landed[currency]?.count ?? 0
            summaries.append(
                CostReport.OutcomeSummary(
                    currency: currency, total: total, landedPatches: count,
                    costPerLandedPatch: count == 0 ? nil : Self.divide(total, by: count), wasted: wasted,
                    wastedPercent: Self.percent(wasted, of: total)))
        }
        return CostReport(dimension: .outcome, rows: sorted, outcomes: summaries)
    }

    /// `amount ÷ count`, rounded half to even to the ledger's nine places.
    static func divide(_ amount: ExactDecimal, by count: Int) -> ExactDecimal {
        let (quotient, remainder) = amount.units.quotientAndRemainder(dividingBy: Int64(count))
        let twice = remainder * 2
        let up = twice > Int64(count) || (twice == Int64(count) && quotient % 2 != 0)
        return ExactDecimal(units: quotient + (up ? 1 : 0))
    }

    /// `part ÷ whole` in percent with one decimal, rounded half up; "0.0" for nothing spent.
    static func percent(_ part: ExactDecimal, of whole: ExactDecimal) -> String {
        guard whole.units > 0 else { return "0.0" }
        let tenths = (Int128(part.units) * 2000 + Int128(whole.units)) / (Int128(whole.units) * 2)
        return "\(tenths / 10).\(tenths % 10)"
    }
}
