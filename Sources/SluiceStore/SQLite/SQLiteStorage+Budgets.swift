import Foundation
import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let budgetColumns = ColumnSet([
        "scope", "limit_units", "currency", "time_window", "timezone", "soft", "hard", "created_at", "updated_at",
    ])
    static let spendColumns = ColumnSet(["scope", "window_key", "committed_units", "held_units", "soft_fired"])
    static let holdColumns = ColumnSet([
        "task_id", "epoch", "worker_id", "estimate_units", "currency", "parts", "created_at",
    ])

    package func budgets() throws -> [Budget] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT \(Self.budgetColumns.sql) FROM budgets ORDER BY scope"))
            .map(Self.decodeBudget)
    }

    package func budgetSpend(_ scope: BudgetScope, window: String) throws -> BudgetSpend? {
        try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT \(Self.spendColumns.sql) FROM budget_spend WHERE scope = ? AND window_key = ?"),
            arguments: [scope.description, window]
        ).map(Self.decodeSpend)
    }

    package func budgetSpends(_ scope: BudgetScope?) throws -> [BudgetSpend] {
        var conditions = Conditions()
        conditions.equal("scope", scope?.description)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT \(Self.spendColumns.sql) FROM budget_spend \(conditions.sql) ORDER BY scope, window_key"),
            arguments: conditions.statementArguments
        ).map(Self.decodeSpend)
    }

    package func budgetHolds(taskID: TaskID?) throws -> [BudgetHold] {
        var conditions = Conditions()
        conditions.equal("task_id", taskID?.description)
        return try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT \(Self.holdColumns.sql) FROM budget_holds \(conditions.sql) ORDER BY task_id, epoch"),
            arguments: conditions.statementArguments
        ).map(Self.decodeHold)
    }

    package func endedBudgetHolds() throws -> [BudgetHold] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.holdColumns.names.map { "h." + $0 }.joined(separator: ", ")) FROM budget_holds h
                    LEFT JOIN tasks t ON t.task_id = h.task_id
                    WHERE t.task_id IS NULL OR t.state <> 'running' OR t.epoch <> h.epoch
                    ORDER BY h.task_id, h.epoch
                    """)
        ).map(Self.decodeHold)
    }

    static let gateHoldColumns = ColumnSet([
        "ledger_id", "estimate_units", "currency", "parts", "created_at", "expires_at",
    ])

    package func gateHolds() throws -> [GateHold] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT \(Self.gateHoldColumns.sql) FROM gate_holds ORDER BY ledger_id")
        ).map(Self.decodeGateHold)
    }

    static let rateColumns = ColumnSet([
        "from_currency", "to_currency", "recorded_at", "rate_units", "quoted_on", "source",
    ])

    package func currencyRates() throws -> [CurrencyRate] {
        try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT \(Self.rateColumns.sql) FROM currency_rates ORDER BY from_currency, to_currency, recorded_at"
            )
        ).map(Self.decodeRate)
    }

    package func putRate(_ rate: CurrencyRate, event: Event) throws {
        try putRateRow(rate)
        try Self.append(event, db)
    }

    package func putRateRow(_ rate: CurrencyRate) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO currency_rates (\(Self.rateColumns.sql)) VALUES (\(Self.rateColumns.placeholders))
                ON CONFLICT DO NOTHING
                """
        ).execute(arguments: [
            rate.from.code, rate.to.code, rate.recordedAt.description, rate.rate.units, rate.quotedOn, rate.source,
        ])
        guard db.changesCount == 1 else { throw CurrencyRate.sameInstant(rate) }
    }

    package func putBudget(_ budget: Budget, event: Event) throws {
        try putBudgetRow(budget)
        try Self.append(event, db)
    }

    package func putBudgetRow(_ budget: Budget) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO budgets (\(Self.budgetColumns.sql)) VALUES (\(Self.budgetColumns.placeholders))
                ON CONFLICT (scope) DO UPDATE SET limit_units = excluded.limit_units, currency = excluded.currency,
                    time_window = excluded.time_window, timezone = excluded.timezone, soft = excluded.soft,
                    hard = excluded.hard, updated_at = excluded.updated_at
                """
        ).execute(arguments: [
            budget.scope.description, budget.limit.units, budget.currency.code, budget.window.rawValue,
            budget.timeZone, try JSONValue(encoding: budget.soft).jsonText, budget.hard ? 1 : 0,
            budget.createdAt.description, budget.updatedAt.description,
        ])
    }

    package func deleteBudget(_ scope: BudgetScope, event: @Sendable (Budget) -> Event) throws -> Budget {
        guard
            let budget = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT \(Self.budgetColumns.sql) FROM budgets WHERE scope = ?"),
                arguments: [scope.description]
            ).map(Self.decodeBudget)
        else { throw SluiceError.notFound("budget", scope.description) }
        try db.execute(sql: "DELETE FROM budgets WHERE scope = ?", arguments: [scope.description])
        try Self.append(event(budget), db)
        return budget
    }

    package func changeSpend(
        _ scope: BudgetScope, window: String, committed: ExactDecimal, held: ExactDecimal, limit: ExactDecimal?
    ) throws -> BudgetSpend? {
        // A write unit runs alone on SQLite: the read, the check and the write cannot interleave.
        let current =
            try budgetSpend(scope, window: window)
            ?? BudgetSpend(scope: scope, windowKey: window, committed: .zero, held: .zero, softFired: 0)
        let next = try BudgetSpend.adding(current, committed: committed, held: held)
        if let limit, Int128(next.committed.units) + Int128(next.held.units) > Int128(limit.units) { return nil }
        try db.cachedStatement(
            sql: """
                INSERT INTO budget_spend (scope, window_key, committed_units, held_units) VALUES (?, ?, ?, ?)
                ON CONFLICT (scope, window_key) DO UPDATE SET committed_units = excluded.committed_units,
                    held_units = excluded.held_units
                """
        ).execute(arguments: [scope.description, window, next.committed.units, next.held.units])
        return next
    }

    package func setSoftFired(_ scope: BudgetScope, window: String, percent: Int) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO budget_spend (scope, window_key, soft_fired) VALUES (?, ?, ?)
                ON CONFLICT (scope, window_key) DO UPDATE SET soft_fired = excluded.soft_fired
                """
        ).execute(arguments: [scope.description, window, percent])
    }

    package func putHold(_ hold: BudgetHold) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO budget_holds (\(Self.holdColumns.sql)) VALUES (\(Self.holdColumns.placeholders))
                ON CONFLICT (task_id, epoch) DO UPDATE SET parts = excluded.parts
                """
        ).execute(arguments: [
            hold.taskID.description, hold.epoch, hold.workerID.description, hold.estimate.units, hold.currency.code,
            try JSONValue(encoding: hold.parts).jsonText, hold.createdAt.description,
        ])
    }

    @discardableResult
    package func deleteHold(taskID: TaskID, epoch: Int64) throws -> Bool {
        try db.cachedStatement(sql: "DELETE FROM budget_holds WHERE task_id = ? AND epoch = ?")
            .execute(arguments: [taskID.description, epoch])
        return db.changesCount == 1
    }

    package func insertGateHold(_ hold: GateHold) throws {
        try db.cachedStatement(
            sql: "INSERT INTO gate_holds (\(Self.gateHoldColumns.sql)) VALUES (\(Self.gateHoldColumns.placeholders))"
        ).execute(arguments: [
            hold.ledgerID.description, hold.estimate.units, hold.currency.code,
            try JSONValue(encoding: hold.parts).jsonText, hold.createdAt.description, hold.expiresAt.description,
        ])
    }

    @discardableResult
    package func deleteGateHold(_ ledgerID: LedgerID) throws -> Bool {
        try db.cachedStatement(sql: "DELETE FROM gate_holds WHERE ledger_id = ?").execute(arguments: [
            ledgerID.description
        ])
        return db.changesCount == 1
    }

    // MARK: - Mapping

    static func decodeGateHold(_ row: Row) throws -> GateHold {
        let row = RowReader(row, gateHoldColumns)
        return GateHold(
            ledgerID: try Column.id(row, "ledger_id"), estimate: ExactDecimal(units: row["estimate_units"]),
            currency: try Currency(Column.string(row, "currency")),
            parts: try Column.json(row, "parts", as: [BudgetHoldPart].self),
            createdAt: try Column.timestamp(row, "created_at"), expiresAt: try Column.timestamp(row, "expires_at"))
    }

    static func decodeBudget(_ row: Row) throws -> Budget {
        let row = RowReader(row, budgetColumns)
        return try Budget(
            scope: BudgetScope(parsing: Column.string(row, "scope")), limit: ExactDecimal(units: row["limit_units"]),
            currency: Currency(Column.string(row, "currency")), window: Column.enumeration(row, "time_window"),
            timeZone: Column.string(row, "timezone"), soft: Column.json(row, "soft", as: [Int].self),
            hard: (row["hard"] as Int64) == 1, createdAt: Column.timestamp(row, "created_at"),
            updatedAt: Column.timestamp(row, "updated_at"))
    }

    static func decodeSpend(_ row: Row) throws -> BudgetSpend {
        let row = RowReader(row, spendColumns)
        return BudgetSpend(
            scope: try BudgetScope(parsing: Column.string(row, "scope")),
            windowKey: try Column.string(row, "window_key"),
            committed: ExactDecimal(units: row["committed_units"]), held: ExactDecimal(units: row["held_units"]),
            softFired: Int(row["soft_fired"] as Int64))
    }

    static func decodeRate(_ row: Row) throws -> CurrencyRate {
        let row = RowReader(row, rateColumns)
        return try CurrencyRate(
            from: Currency(Column.string(row, "from_currency")), to: Currency(Column.string(row, "to_currency")),
            rate: ExactDecimal(units: row["rate_units"]), quotedOn: Column.string(row, "quoted_on"),
            source: Column.string(row, "source"), recordedAt: Column.timestamp(row, "recorded_at"))
    }

    static func decodeHold(_ row: Row) throws -> BudgetHold {
        let row = RowReader(row, holdColumns)
        return BudgetHold(
            taskID: try Column.id(row, "task_id"), epoch: row["epoch"], workerID: try Column.id(row, "worker_id"),
            estimate: ExactDecimal(units: row["estimate_units"]),
            currency: try Currency(Column.string(row, "currency")),
            parts: try Column.json(row, "parts", as: [BudgetHoldPart].self),
            createdAt: try Column.timestamp(row, "created_at"))
    }
}
