import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let costColumns = ColumnSet([
        "cost_id", "execution_request_id", "project_id", "resource_type", "resource_name", "amount_units", "currency",
        "usage_quantity_units", "usage_unit", "usage_rate_units", "recorded_at", "metadata",
    ])
    static let selectCostByID = "SELECT \(costColumns.sql) FROM costs WHERE cost_id = ?"

    func insertCost(_ cost: CostRecord, event: Event) throws {
        try insertCosts([(cost, event)])
    }

    /// Stores the records with their events in one transaction.
    ///
    /// - Throws: `invalidInput` when a currency's total of every record would pass what 64 bits of
    ///   billionths hold (SQLite would turn the running sums into inexact floats); nothing is stored.
    package func insertCosts(_ costs: [(CostRecord, Event)]) throws {
        try Self.checkTotalsStayExact(adding: costs.map(\.0), db)
        for (cost, event) in costs {
            try insertCostRow(cost)
            try Self.append(event, db)
        }
    }

    /// Stores the record's row alone; the trigger adds it to the running sums.
    func insertCostRow(_ cost: CostRecord) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO costs (cost_id, execution_request_id, project_id, resource_type, resource_name,
                    amount_units, currency, usage_quantity_units, usage_unit, usage_rate_units, recorded_at, metadata)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            cost.costID.description, cost.executionRequestID?.description, cost.projectID,
            cost.resourceType.rawValue, cost.resourceName, cost.amount?.units, cost.currency.code,
            cost.usage?.quantity.units, cost.usage?.unit, cost.usage?.rate.units, cost.recordedAt.description,
            JSONValue.object(cost.metadata).jsonText,
        ])
    }

    package func deleteCost(_ id: CostID, event: @Sendable (CostRecord) -> Event) throws -> CostRecord {
        guard
            let row = try Row.fetchOne(db.cachedStatement(sql: Self.selectCostByID), arguments: [id.description])
        else { throw SluiceError.notFound("cost record", id.description) }
        let cost = try Self.decodeCost(row)
        try db.execute(sql: "DELETE FROM costs WHERE cost_id = ?", arguments: [id.description])
        try Self.append(event(cost), db)
        return cost
    }

    package func cost(_ id: CostID) throws -> CostRecord? {
        try Row.fetchOne(db.cachedStatement(sql: Self.selectCostByID), arguments: [id.description])
            .map(Self.decodeCost)
    }

    package func costs(_ filter: CostFilter, limit: Int?) throws -> [CostRecord] {
        var conditions = Conditions()
        conditions.equal("execution_request_id", filter.executionRequestID?.description)
        conditions.equal("project_id", filter.projectID)
        conditions.equal("resource_type", filter.resourceType?.rawValue)
        conditions.equal("currency", filter.currency?.code)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.costColumns.sql) FROM costs \(conditions.sql)
                    ORDER BY recorded_at DESC, cost_id DESC LIMIT ?
                    """), arguments: conditions.statementArguments + [limit ?? -1]
        ).map(Self.decodeCost)
    }

    package func costTotals(_ filter: CostFilter) throws -> [CostTotal] {
        let conditions = Self.rollupConditions(filter)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT currency, SUM(total_units) AS units, SUM(record_count) AS n FROM cost_rollups
                    \(conditions.sql) GROUP BY currency HAVING n > 0 ORDER BY currency
                    """), arguments: conditions.statementArguments
        ).map { row in
            CostTotal(
                currency: try Currency(row["currency"] ?? ""), amount: try Self.units(row, "units"),
                count: row["n"])
        }
    }

    package func costBreakdown(_ filter: CostFilter) throws -> [CostBreakdownRow] {
        let conditions = Self.rollupConditions(filter)
        return try Row.fetchAll(
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
                currency: try Currency(row["currency"] ?? ""), amount: try Self.units(row, "units"),
                count: row["n"])
        }
    }

    // MARK: - Exact totals

    /// Every total and breakdown sums a subset of one currency's records, all ≥ 0, so the running sums
    /// stay exact integers as long as each currency's total of all records fits in an Int64.
    /// Checked inside the insert's write transaction, so no other writer can slip in between.
    static func checkTotalsStayExact(adding costs: [CostRecord], _ db: Database) throws {
        var added: [Currency: Int64] = [:]
        for cost in costs {
            let (sum, overflow) = added[cost.currency, default: 0].addingReportingOverflow(cost.pricedUnits)
            guard !overflow else { throw tooLarge(cost.currency, total: nil) }
            added[cost.currency] = sum
        }
        let statement = try db.cachedStatement(
            sql: "SELECT coalesce(sum(total_units), 0) FROM cost_rollups WHERE currency = ?")
        for (currency, amount) in added {
            let stored = try DatabaseValue.fetchOne(statement, arguments: [currency.code]) ?? .null
            guard let current = Int64.fromDatabaseValue(stored) else {
                throw SluiceError(
                    code: .storage,
                    message: "the stored \(currency.code) total is not an exact integer; the database was damaged "
                        + "by an earlier version")
            }
            let (_, overflow) = current.addingReportingOverflow(amount)
            guard !overflow else { throw tooLarge(currency, total: ExactDecimal(units: current)) }
        }
    }

    private static func tooLarge(_ currency: Currency, total: ExactDecimal?) -> SluiceError {
        SluiceError.invalidInput(
            "cannot record the cost: the \(currency.code) total would pass \(ExactDecimal(units: .max)), the most "
                + "kept exactly" + (total.map { " (recorded \(currency.code) costs total \($0))" } ?? "")
                + "; nothing was stored")
    }

    /// A running sum read back: an exact integer, or a storage error (never a crash) if it is not one.
    static func units(_ row: Row, _ name: String) throws -> ExactDecimal {
        guard let units = Int64.fromDatabaseValue(row[name] as DatabaseValue) else {
            throw SluiceError(
                code: .storage, message: "a stored cost total is not an exact integer: the database is damaged")
        }
        return ExactDecimal(units: units)
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
            resourceName: row["resource_name"], amount: (row["amount_units"] as Int64?).map(ExactDecimal.init(units:)),
            currency: Currency(Column.string(row, "currency")), usage: usage,
            recordedAt: Column.timestamp(row, "recorded_at"),
            metadata: Column.object(row, "metadata"))
    }
}

extension SQLiteTransaction {
    package func costReport(by key: CostReportKey, _ range: CostReportRange) throws -> [CostReportRow] {
        var arguments: [(any DatabaseValueConvertible)?] = []
        let sql: String
        switch key {
        case .project, .model, .resourceType:
            let column = key == .project ? "project_key" : key == .model ? "name_key" : "resource_type"
            let terms = Self.bounds(range, column: "day", &arguments)
            sql = """
                SELECT nullif(\(column), '') AS k, currency, SUM(total_units) AS units, SUM(record_count) AS n,
                    SUM(unpriced_count) AS unpriced
                FROM cost_daily \(terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "))
                GROUP BY 1, 2 HAVING n > 0 ORDER BY 1, 2
                """
        case .workstream, .task, .worker, .attribution:
            let expression =
                switch key {
                case .workstream: "json_extract(metadata, '$.workstream_id')"
                case .task: "json_extract(metadata, '$.task_id')"
                case .worker: "json_extract(metadata, '$.worker_id')"
                default:
                    "coalesce('task:' || json_extract(metadata, '$.task_id'), "
                        + "'patch:' || json_extract(metadata, '$.ledger_id'))"
                }
            let terms = Self.bounds(range, column: "recorded_at", &arguments)
            sql = """
                SELECT \(expression) AS k, currency, coalesce(SUM(amount_units), 0) AS units, COUNT(*) AS n,
                    SUM(amount_units IS NULL) AS unpriced
                FROM costs \(terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "))
                GROUP BY 1, 2 ORDER BY 1, 2
                """
        }
        return try Row.fetchAll(db.cachedStatement(sql: sql), arguments: StatementArguments(arguments)).map { row in
            CostReportRow(
                key: Self.text(row["k"]), currency: try Currency(row["currency"] ?? ""),
                amount: try Self.units(row, "units"), records: row["n"], unpriced: row["unpriced"] ?? 0)
        }
    }

    package func disagreeingCosts(_ range: CostReportRange) throws -> [CostRecord] {
        var arguments: [(any DatabaseValueConvertible)?] = []
        let terms =
            ["json_extract(metadata, '$.reported_disagrees') = 1"]
            + Self.bounds(range, column: "recorded_at", &arguments)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.costColumns.sql) FROM costs WHERE \(terms.joined(separator: " AND "))
                    ORDER BY recorded_at, cost_id
                    """), arguments: StatementArguments(arguments)
        ).map(Self.decodeCost)
    }

    /// The terms that keep `column` within the report's days, their values appended to `arguments`.
    /// A record's time and a day are ISO 8601 text of one width each, so a day's bound compares as text.
    static func bounds(
        _ range: CostReportRange, column: String, _ arguments: inout [(any DatabaseValueConvertible)?]
    ) -> [String] {
        var terms: [String] = []
        if let since = range.since {
            terms.append("\(column) >= ?")
            arguments.append(since)
        }
        if let until = range.until {
            terms.append("\(column) < ?")
            arguments.append(until)
        }
        return terms
    }

    /// A value as text, whatever its type (an agent's metadata may hold a number where an id belongs).
    static func text(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: nil
        case .int64(let number): String(number)
        case .double(let number): String(number)
        case .string(let text): text
        case .blob(let data): String(decoding: data, as: UTF8.self)
        }
    }
}
