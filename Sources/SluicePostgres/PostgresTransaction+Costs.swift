import SluiceCore
import SluiceStore

extension PostgresTransaction {
    static let costColumns = [
        "cost_id", "execution_request_id", "project_id", "resource_type", "resource_name", "amount_units", "currency",
        "usage_quantity_units", "usage_unit", "usage_rate_units", "recorded_at", "metadata",
    ]
    static let costSelect = "SELECT \(costColumns.joined(separator: ", ")) FROM costs"
    static let costInsert =
        "INSERT INTO costs (\(costColumns.joined(separator: ", "))) VALUES ("
        + (1...costColumns.count).map { "$\($0)" }.joined(separator: ", ") + ")"

    /// The first key of the per-currency locks that keep every currency's total within a bigint
    /// ('sluc'); the second key is the currency's hash.
    static let costLockKey: Int32 = 0x736C_7563

    /// Stores the records with their events in one transaction.
    ///
    /// - Throws: `invalidInput` when a currency's total of every record would pass what a bigint of
    ///   billionths holds; nothing is stored.
    func insertCosts(_ costs: [(CostRecord, Event)]) throws {
        try checkTotalsStayExact(adding: costs.map(\.0))
        for (cost, event) in costs {
            try insertCostRow(cost)
            pendingEvents.append(event)
        }
    }

    /// Stores the record's row alone; the trigger adds it to the running sums.
    func insertCostRow(_ cost: CostRecord) throws {
        var binds = Binds()
        binds.add(cost.costID)
        binds.add(cost.executionRequestID)
        binds.add(cost.projectID)
        binds.add(cost.resourceType.rawValue)
        binds.add(cost.resourceName)
        binds.add(cost.amount?.units)
        binds.add(cost.currency.code)
        binds.add(cost.usage?.quantity.units)
        binds.add(cost.usage?.unit)
        binds.add(cost.usage?.rate.units)
        binds.add(cost.recordedAt)
        binds.add(json: JSONValue.object(cost.metadata).jsonText)
        try execute(Self.costInsert, binds)
    }

    func deleteCost(_ id: CostID, event: @Sendable (CostRecord) -> Event) throws -> CostRecord {
        var binds = Binds()
        binds.add(id)
        // DELETE … RETURNING reads the row it deleted: no other writer can slip in between.
        guard
            let cost = try rows(
                "DELETE FROM costs WHERE cost_id = $1 RETURNING \(Self.costColumns.joined(separator: ", "))", binds,
                Self.decodeCost
            ).first
        else { throw SluiceError.notFound("cost record", id.description) }
        pendingEvents.append(event(cost))
        return cost
    }

    func cost(_ id: CostID) throws -> CostRecord? {
        var binds = Binds()
        binds.add(id)
        return try rows("\(Self.costSelect) WHERE cost_id = $1", binds, Self.decodeCost).first
    }

    func costs(_ filter: CostFilter, limit: Int?) throws -> [CostRecord] {
        var (binds, terms) = Self.conditions([
            ("execution_request_id", filter.executionRequestID?.description), ("project_id", filter.projectID),
            ("resource_type", filter.resourceType?.rawValue), ("currency", filter.currency?.code),
        ])
        var sql = Self.costSelect + terms + " ORDER BY recorded_at DESC, cost_id DESC"
        if let limit {
            binds.add(Int64(max(0, limit)))
            sql += " LIMIT $\(binds.count)"
        }
        return try rows(sql, binds, Self.decodeCost)
    }

    func costTotals(_ filter: CostFilter) throws -> [CostTotal] {
        let (binds, terms) = Self.rollupConditions(filter)
        return try rows(
            """
            SELECT currency, sum(total_units)::text, sum(record_count)::bigint FROM cost_rollups\(terms)
            GROUP BY currency HAVING sum(record_count) > 0 ORDER BY currency
            """, binds
        ) { row in
            CostTotal(currency: try Currency(row.string()), amount: try Self.units(&row), count: try row.int())
        }
    }

    func costBreakdown(_ filter: CostFilter) throws -> [CostBreakdownRow] {
        let (binds, terms) = Self.rollupConditions(filter)
        return try rows(
            """
            SELECT resource_type, currency, sum(total_units)::text, sum(record_count)::bigint FROM cost_rollups\(terms)
            GROUP BY resource_type, currency HAVING sum(record_count) > 0 ORDER BY resource_type, currency
            """, binds
        ) { row in
            CostBreakdownRow(
                resourceType: try row.enumeration(), currency: try Currency(row.string()),
                amount: try Self.units(&row), count: try row.int())
        }
    }

    // MARK: - Exact totals

    /// Every total and breakdown sums a subset of one currency's records, all ≥ 0, so the running sums
    /// stay exact as long as each currency's total of all records fits in a bigint. Concurrent
    /// writers would each see the total without the other's records, so each takes its currencies'
    /// locks first (in one order, so two of them never wait for each other), held until it commits.
    func checkTotalsStayExact(adding costs: [CostRecord]) throws {
        var added: [Currency: Int64] = [:]
        for cost in costs {
            let (sum, overflow) = added[cost.currency, default: 0].addingReportingOverflow(cost.pricedUnits)
            guard !overflow else { throw Self.tooLarge(cost.currency, total: nil) }
            added[cost.currency] = sum
        }
        for (currency, amount) in added.sorted(by: { $0.key < $1.key }) {
            var lock = Binds()
            lock.add(currency.code)
            try query("SELECT pg_advisory_xact_lock(\(Self.costLockKey), hashtext($1))", lock)
            var binds = Binds()
            binds.add(currency.code)
            let stored =
                try rows(
                    "SELECT coalesce(sum(total_units), 0)::text FROM cost_rollups WHERE currency = $1", binds
                ) { try Self.units(&$0) }.first ?? .zero
            let (_, overflow) = stored.units.addingReportingOverflow(amount)
            guard !overflow else { throw Self.tooLarge(currency, total: stored) }
        }
    }

    private static func tooLarge(_ currency: Currency, total: ExactDecimal?) -> SluiceError {
        SluiceError.invalidInput(
            "cannot record the cost: the \(currency.code) total would pass \(ExactDecimal(units: .max)), the most "
                + "kept exactly" + (total.map { " (recorded \(currency.code) costs total \($0))" } ?? "")
                + "; nothing was stored")
    }

    /// A sum read back as text: an exact integer of billionths, or a storage error if it is not one.
    static func units(_ row: inout Cells) throws -> ExactDecimal {
        guard let units = Int64(try row.string()) else {
            throw SluiceError(
                code: .storage, message: "a stored cost total is not an exact 64-bit integer: the database is damaged")
        }
        return ExactDecimal(units: units)
    }

    // MARK: - Mapping

    /// ` WHERE a = $1 AND …` for the columns given a value, and their binds.
    static func conditions(_ columns: [(String, String?)]) -> (Binds, String) {
        var binds = Binds()
        var terms: [String] = []
        for (column, value) in columns {
            guard let value else { continue }
            binds.add(value)
            terms.append("\(column) = $\(binds.count)")
        }
        return (binds, terms.isEmpty ? "" : " WHERE " + terms.joined(separator: " AND "))
    }

    /// The filter on the running sums' key columns, where '' stands for "none".
    private static func rollupConditions(_ filter: CostFilter) -> (Binds, String) {
        conditions([
            ("request_key", filter.executionRequestID?.description), ("project_key", filter.projectID),
            ("resource_type", filter.resourceType?.rawValue), ("currency", filter.currency?.code),
        ])
    }

    static func decodeCost(_ row: inout Cells) throws -> CostRecord {
        let id: CostID = try row.id()
        let request: ExecutionRequestID? = try row.optionalID()
        let project = try row.text()
        let type: ResourceType = try row.enumeration()
        let name = try row.text()
        let amount = try row.optionalInt64().map(ExactDecimal.init(units:))
        let currency = try Currency(row.string())
        let quantity = try row.optionalInt64()
        let unit = try row.text()
        let rate = try row.optionalInt64()
        var usage: CostUsage?
        if let quantity, let rate {
            usage = CostUsage(
                quantity: ExactDecimal(units: quantity), unit: unit ?? "", rate: ExactDecimal(units: rate))
        }
        return try CostRecord(
            costID: id, executionRequestID: request, projectID: project, resourceType: type, resourceName: name,
            amount: amount, currency: currency, usage: usage, recordedAt: row.timestamp(), metadata: row.object())
    }
}

extension PostgresTransaction {
    func costReport(by key: CostReportKey, _ range: CostReportRange) throws -> [CostReportRow] {
        var binds = Binds()
        let sql: String
        switch key {
        case .project, .model, .resourceType:
            let column = key == .project ? "project_key" : key == .model ? "name_key" : "resource_type"
            let terms = Self.bounds(range, column: "day", &binds)
            sql = """
                SELECT nullif(\(column), ''), currency, sum(total_units)::text, sum(record_count)::bigint,
                    sum(unpriced_count)::bigint
                FROM cost_daily \(terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "))
                GROUP BY 1, 2 HAVING sum(record_count) > 0 ORDER BY 1, 2
                """
        case .workstream, .task, .worker, .attribution:
            let expression =
                switch key {
                case .workstream: "metadata->>'workstream_id'"
                case .task: "metadata->>'task_id'"
                case .worker: "metadata->>'worker_id'"
                default: "coalesce('task:' || (metadata->>'task_id'), 'patch:' || (metadata->>'ledger_id'))"
                }
            let terms = Self.bounds(range, column: "recorded_at", &binds)
            sql = """
                SELECT \(expression) COLLATE "C", currency, coalesce(sum(amount_units), 0)::text, count(*)::bigint,
                    count(*) FILTER (WHERE amount_units IS NULL)::bigint
                FROM costs \(terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND "))
                GROUP BY 1, 2 ORDER BY 1, 2
                """
        }
        return try rows(sql, binds) { row in
            CostReportRow(
                key: try row.text(), currency: try Currency(row.string()), amount: try Self.units(&row),
                records: try row.int(), unpriced: try row.int())
        }
    }

    func disagreeingCosts(_ range: CostReportRange) throws -> [CostRecord] {
        var binds = Binds()
        let terms = ["(metadata->>'reported_disagrees') = 'true'"] + Self.bounds(range, column: "recorded_at", &binds)
        return try rows(
            "\(Self.costSelect) WHERE \(terms.joined(separator: " AND ")) ORDER BY recorded_at, cost_id", binds,
            Self.decodeCost)
    }

    /// The terms that keep `column` within the report's days, their values bound in `binds`. A
    /// record's time and a day are ISO 8601 text of one width each, so a day's bound compares as text.
    static func bounds(_ range: CostReportRange, column: String, _ binds: inout Binds) -> [String] {
        var terms: [String] = []
        if let since = range.since {
            binds.add(since)
            terms.append("\(column) >= $\(binds.count)")
        }
        if let until = range.until {
            binds.add(until)
            terms.append("\(column) < $\(binds.count)")
        }
        return terms
    }
}
