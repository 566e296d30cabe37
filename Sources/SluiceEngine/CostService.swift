import SluiceCore
import SluiceStore
import Synchronization

/// CostTracker: exact records of what work cost, with totals per currency.
public struct CostService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Records a cost. When `amount` is nil, it is `usage.quantity × usage.rate`, exactly.
    ///
    /// - Throws: `invalidInput` for a negative amount, a missing amount and usage, an amount that
    ///   disagrees with its usage, or an empty project; `conflict` when the id is taken.
    @discardableResult
    public func record(
        type: ResourceType, amount: ExactDecimal?, currency: Currency = .usd, project: String? = nil,
        request: ExecutionRequestID? = nil, resourceName: String? = nil, usage: CostUsage? = nil,
        metadata: [String: JSONValue] = [:], id: CostID? = nil
    ) async throws -> CostRecord {
        let (record, step) = try recording(
            type: type, amount: amount, currency: currency, project: project, request: request,
            resourceName: resourceName, usage: usage, metadata: metadata, id: id)
        try await context.storage.write(step)
        return record
    }

    /// A cost checked and made, and the step of a unit of work that stores it: for a cost recorded
    /// with the change it pays for (a gate's seconds with the gate's result).
    ///
    /// - Throws: as ``record(type:amount:currency:project:request:resourceName:usage:metadata:id:)``,
    ///   before anything is stored.
    public func recording(
        type: ResourceType, amount: ExactDecimal?, currency: Currency = .usd, project: String? = nil,
        request: ExecutionRequestID? = nil, resourceName: String? = nil, usage: CostUsage? = nil,
        metadata: [String: JSONValue] = [:], id: CostID? = nil
    ) throws -> (CostRecord, Step<Void>) {
        if let project, project.isEmpty { throw SluiceError.invalidInput("a project id must not be empty") }
        let resolved: ExactDecimal
        if let amount {
            resolved = amount
        } else if let usage {
            resolved = try usage.quantity.multiplied(by: usage.rate)
        } else {
            throw SluiceError.invalidInput("a cost needs an amount, or a quantity and a rate")
        }
        let record = try CostRecord(
            costID: id ?? CostID.make(context.ids), executionRequestID: request, projectID: project, resourceType: type,
            resourceName: resourceName, amount: resolved, currency: currency, usage: usage,
            recordedAt: context.clock.now(), metadata: metadata)
        return (record, importing([record]))
    }

    /// Stores records made elsewhere (an import of a provider's usage export) in one transaction,
    /// each with its own event. The records were checked when they were made.
    public func importRecords(_ records: [CostRecord]) async throws {
        try await context.storage.write(importing(records))
    }

    func importing(_ records: [CostRecord]) -> Step<Void> {
        let (insert, commit) = importingInTwo(records)
        return { tx in
            try insert(tx)
            try commit(tx, [])
        }
    }

    /// The two halves of ``importing(_:)``, for a unit that does more: the records and their events
    /// first, the budgets' commits (whose rows stay locked until the commit) as its last step, with
    /// the release of what the holds the unit ended still held (one write per budget window).
    func importingInTwo(_ records: [CostRecord]) -> (
        insert: Step<Void>, commit: @Sendable (any StorageWriter, [BudgetHoldPart]) throws -> Void
    ) {
        let pairs = records.map { record in
            (
                record,
                context.event(
                    .cost, record.costID.description, from: nil, to: "recorded", at: record.recordedAt,
                    payload: [
                        "amount": record.amount.map { .number($0.decimal) } ?? .null,
                        "currency": .string(record.currency.code),
                    ])
            )
        }
        let engine = context
        // What the costs take from their claims' holds is worked out in the first half, while the
        // holds stand (the unit may end the claim in between, which releases the rest of its hold).
        let consumption = ConsumptionBox()
        return (
            { tx in
                try tx.insertCosts(pairs)
                let consumed = try BudgetService.consume(tx, records)
                consumption.value.withLock { $0 = consumed }
            },
            { tx, releasing in
                try BudgetService.commit(
                    tx, engine, records, consumption.value.withLock { $0 }, releasing: releasing)
            }
        )
    }

    /// The cost record with this id. - Throws: `notFound`.
    public func get(_ id: CostID) async throws -> CostRecord {
        guard let cost = try await context.storage.cost(id) else {
            throw SluiceError.notFound("cost record", id.description)
        }
        return cost
    }

    /// Exact totals, one per currency (one only when the filter names a currency).
    public func total(_ filter: CostFilter = CostFilter()) async throws -> [CostTotal] {
        try await context.storage.costTotals(filter)
    }

    /// How many records of `filter` have no amount (unpriced), per currency, from the report's
    /// running sums; nil when they cannot tell (a request, or a project and a resource type at once).
    public func unpriced(_ filter: CostFilter = CostFilter()) async throws -> [Currency: Int]? {
        let (key, wanted): (CostReportKey, String?)
        switch (filter.executionRequestID, filter.projectID, filter.resourceType) {
        case (nil, nil, let type): (key, wanted) = (.resourceType, type?.rawValue)
        case (nil, let project?, nil): (key, wanted) = (.project, project)
        default: return nil
        }
        let rows = try await context.storage.read { try $0.costReport(by: key, CostReportRange()) }
        var counts: [Currency: Int] = [:]
        for row in rows
        where (wanted == nil || row.key == wanted) && (filter.currency == nil || row.currency == filter.currency) {
            counts[row.currency, default: 0] += row.unpriced
        }
        return counts
    }

    /// Exact totals per resource type and currency.
    public func breakdown(_ filter: CostFilter = CostFilter()) async throws -> [CostBreakdownRow] {
        try await context.storage.costBreakdown(filter)
    }

    /// Records, newest first.
    public func list(_ filter: CostFilter = CostFilter(), limit: Int? = nil) async throws -> [CostRecord] {
        try SluiceError.checkLimit(limit)
        return try await context.storage.costs(filter, limit: limit)
    }

    /// Deletes a record; the event log keeps what was deleted.
    @discardableResult
    public func delete(_ id: CostID) async throws -> CostRecord {
        let context = self.context
        return try await context.storage.write { tx in
            let deleted = try tx.deleteCost(id) { deleted in
                let record = (try? JSONValue(encoding: deleted)) ?? .null
                return context.event(
                    .cost, id.description, from: "recorded", to: "deleted", reason: "deleted",
                    at: context.clock.now(), payload: ["deleted": record])
            }
            // A deleted record no longer counts against the budgets it was committed to.
            try BudgetService.uncommit(tx, deleted)
            return deleted
        }
    }
}

/// Carries a unit's ``BudgetService/Consumption`` from its first half to its second.
private final class ConsumptionBox: Sendable {
    let value = Mutex(BudgetService.Consumption())
}
