import GRDB
import SluiceCore

extension SQLiteStorage {
    static let costColumns = ColumnSet([
        "cost_id", "execution_request_id", "project_id", "resource_type", "resource_name", "amount_units", "currency",
        "usage_quantity_units", "usage_unit", "usage_rate_units", "recorded_at", "metadata",
    ])
    static let selectCostByID = "SELECT \(costColumns.sql) FROM costs WHERE cost_id = ?"

    public func insertCost(_ cost: CostRecord, event: Event) throws {
        try insertCosts([(cost, event)])
    }

    public func insertCosts(_ costs: [(CostRecord, Event)]) throws {
        try write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO costs (cost_id, execution_request_id, project_id, resource_type, resource_name,
                        amount_units, currency, usage_quantity_units, usage_unit, usage_rate_units, recorded_at, metadata)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for (cost, event) in costs {
                try statement.execute(arguments: [
                    cost.costID.description, cost.executionRequestID?.description, cost.projectID,
                    cost.resourceType.rawValue, cost.resourceName, cost.amount.units, cost.currency.code,
                    cost.usage?.quantity.units, cost.usage?.unit, cost.usage?.rate.units, cost.recordedAt.description,
                    JSONValue.object(cost.metadata).jsonText,
                ])
                try Self.append(event, db)
            }
        }
    }

    public func deleteCost(_ id: CostID, event: @Sendable (CostRecord) -> Event) throws -> CostRecord {
        try write { db in
            guard
                let row = try Row.fetchOne(db.cachedStatement(sql: Self.selectCostByID), arguments: [id.description])
            else { throw SluiceError.notFound("cost record", id.description) }
            let cost = try Self.decodeCost(row)
            try db.execute(sql: "DELETE FROM costs WHERE cost_id = ?", arguments: [id.description])
            try Self.append(event(cost), db)
            return cost
        }
    }

    public func cost(_ id: CostID) throws -> CostRecord? {
        try read { db in
            try Row.fetchOne(db.cachedStatement(sql: Self.selectCostByID), arguments: [id.description])
                .map(Self.decodeCost)
        }
    }

    public func costs(_ filter: CostFilter, limit: Int?) throws -> [CostRecord] {
        var conditions = Conditions()
        conditions.equal("execution_request_id", filter.executionRequestID?.description)
        conditions.equal("project_id", filter.projectID)
        conditions.equal("resource_type", filter.resourceType?.rawValue)
        conditions.equal("currency", filter.currency?.code)
        return try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT \(Self.costColumns.sql) FROM costs \(conditions.sql)
                        ORDER BY recorded_at DESC, cost_id DESC LIMIT ?
                        """), arguments: conditions.statementArguments + [limit ?? -1]
            ).map(Self.decodeCost)
        }
    }

    public func costTotals(_ filter: CostFilter) throws -> [CostTotal] {
        let conditions = Self.rollupConditions(filter)
        return try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT currency, SUM(total_units) AS units, SUM(record_count) AS n FROM cost_rollups
                        \(conditions.sql) GROUP BY currency HAVING n > 0 ORDER BY currency
                        """), arguments: conditions.statementArguments
            ).map { row in
                CostTotal(
                    currency: try Currency(row["currency"] ?? ""), amount: ExactDecimal(units: row["units"]),
                    count: row["n"])
            }
        }
    }

    public func costBreakdown(_ filter: CostFilter) throws -> [CostBreakdownRow] {
        let conditions = Self.rollupConditions(filter)
        return try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT resource_type, currency, SUM(total_units) AS units, SUM(record_count) AS n
                        FROM cost_rollups \(conditions.sql)
                        GROUP BY resource_type, currency HAVING n > 0 ORDER BY resource_type, currency
                        """), arguments: conditions.statementArguments
            ).map { row in
                CostBreakdownRow(
                    resourceType: try ResourceType(rawValue: row["resource_type"] ?? "").orThrow(
                        Column.corrupt("resource_type")),
                    currency: try Currency(row["currency"] ?? ""), amount: ExactDecimal(units: row["units"]),
                    count: row["n"])
            }
        }
    }

    // MARK: - Mapping

    /// The filter on the running sums' key columns, where '' stands for "none".
    private static func rollupConditions(_ filter: CostFilter) -> Conditions {
        var conditions = Conditions()
        conditions.equal("request_key", filter.executionRequestID?.description)
        conditions.equal("project_key", filter.projectID)
        conditions.equal("resource_type", filter.resourceType?.rawValue)
        conditions.equal("currency", filter.currency?.code)
        return conditions
    }

    static func decodeCost(_ row: Row) throws -> CostRecord {
        let row = RowReader(row, costColumns)
        var usage: CostUsage?
        if let quantity: Int64 = row["usage_quantity_units"], let rate: Int64 = row["usage_rate_units"] {
            usage = CostUsage(
                quantity: ExactDecimal(units: quantity), unit: row["usage_unit"] ?? "",
                rate: ExactDecimal(units: rate))
        }
        return try CostRecord(
            costID: Column.id(row, "cost_id"), executionRequestID: Column.optionalID(row, "execution_request_id"),
            projectID: row["project_id"], resourceType: Column.enumeration(row, "resource_type"),
            resourceName: row["resource_name"], amount: ExactDecimal(units: row["amount_units"]),
            currency: Currency(Column.string(row, "currency")), usage: usage,
            recordedAt: Column.timestamp(row, "recorded_at"),
            metadata: Column.object(row, "metadata"))
    }
}
