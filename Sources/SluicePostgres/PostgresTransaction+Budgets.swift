import SluiceCore
import SluiceStore

extension PostgresTransaction {
    static let budgetSelect =
        "SELECT scope, limit_units, currency, time_window, timezone, soft::text, hard, created_at, updated_at FROM budgets"
    static let spendColumns = "scope, window_key, committed_units, held_units, soft_fired"
    static let holdSelect =
        "SELECT task_id, epoch, worker_id, estimate_units, currency, parts::text, created_at FROM budget_holds"

    func budgets() throws -> [Budget] {
        try rows("\(Self.budgetSelect) ORDER BY scope", Binds(), Self.decodeBudget)
    }

    func budgetSpend(_ scope: BudgetScope, window: String) throws -> BudgetSpend? {
        var binds = Binds()
        binds.add(scope.description)
        binds.add(window)
        return try rows(
            "SELECT \(Self.spendColumns) FROM budget_spend WHERE scope = $1 AND window_key = $2", binds,
            Self.decodeSpend
        ).first
    }

    func budgetSpends(_ scope: BudgetScope?) throws -> [BudgetSpend] {
        let (binds, terms) = Self.conditions([("scope", scope?.description)])
        return try rows(
            "SELECT \(Self.spendColumns) FROM budget_spend\(terms) ORDER BY scope, window_key", binds,
            Self.decodeSpend)
    }

    func budgetHolds(taskID: TaskID?) throws -> [BudgetHold] {
        let (binds, terms) = Self.conditions([("task_id", taskID?.description)])
        return try rows("\(Self.holdSelect)\(terms) ORDER BY task_id, epoch", binds, Self.decodeHold)
    }

    func endedBudgetHolds() throws -> [BudgetHold] {
        try rows(
            """
            SELECT h.task_id, h.epoch, h.worker_id, h.estimate_units, h.currency, h.parts::text, h.created_at
            FROM budget_holds h LEFT JOIN tasks t ON t.task_id = h.task_id
            WHERE t.task_id IS NULL OR t.state <> 'running' OR t.epoch <> h.epoch
            ORDER BY h.task_id, h.epoch
            """, Binds(), Self.decodeHold)
    }

    func gateHolds() throws -> [GateHold] {
        try rows(
            """
            SELECT ledger_id, estimate_units, currency, parts::text, created_at, expires_at FROM gate_holds
            ORDER BY ledger_id
            """, Binds()
        ) { row in
            GateHold(
                ledgerID: try row.id(), estimate: ExactDecimal(units: try row.int64()),
                currency: try Currency(row.string()),
                parts: try row.json([BudgetHoldPart].self), createdAt: try row.timestamp(),
                expiresAt: try row.timestamp())
        }
    }

    func currencyRates() throws -> [CurrencyRate] {
        try rows(
            """
            SELECT from_currency, to_currency, recorded_at, rate_units, quoted_on, source FROM currency_rates
            ORDER BY from_currency COLLATE "C", to_currency COLLATE "C", recorded_at
            """, Binds()
        ) { row in
            let from = try Currency(row.string())
            let to = try Currency(row.string())
            let recordedAt = try row.timestamp()
            return try CurrencyRate(
                from: from, to: to, rate: ExactDecimal(units: row.int64()), quotedOn: row.string(),
                source: row.string(), recordedAt: recordedAt)
        }
    }

    func putRate(_ rate: CurrencyRate, event: Event) throws {
        try putRateRow(rate)
        pendingEvents.append(event)
    }

    func putRateRow(_ rate: CurrencyRate) throws {
        var binds = Binds()
        binds.add(rate.from.code)
        binds.add(rate.to.code)
        binds.add(rate.recordedAt)
        binds.add(rate.rate.units)
        binds.add(rate.quotedOn)
        binds.add(rate.source)
        let inserted = try execute(
            """
            INSERT INTO currency_rates (from_currency, to_currency, recorded_at, rate_units, quoted_on, source)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
            """, binds)
        guard inserted == 1 else { throw CurrencyRate.sameInstant(rate) }
    }

    func putBudget(_ budget: Budget, event: Event) throws {
        try putBudgetRow(budget)
        pendingEvents.append(event)
    }

    func putBudgetRow(_ budget: Budget) throws {
        var binds = Binds()
        binds.add(budget.scope.description)
        binds.add(budget.limit.units)
        binds.add(budget.currency.code)
        binds.add(budget.window.rawValue)
        binds.add(budget.timeZone)
        binds.add(json: try JSONValue(encoding: budget.soft).jsonText)
        binds.add(budget.hard)
        binds.add(budget.createdAt)
        binds.add(budget.updatedAt)
        try execute(
            """
            INSERT INTO budgets (scope, limit_units, currency, time_window, timezone, soft, hard, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (scope) DO UPDATE SET limit_units = excluded.limit_units, currency = excluded.currency,
                time_window = excluded.time_window, timezone = excluded.timezone, soft = excluded.soft,
                hard = excluded.hard, updated_at = excluded.updated_at
            """, binds)
    }

    func deleteBudget(_ scope: BudgetScope, event: @Sendable (Budget) -> Event) throws -> Budget {
        var binds = Binds()
        binds.add(scope.description)
        guard
            let budget = try rows(
                """
                DELETE FROM budgets WHERE scope = $1
                RETURNING scope, limit_units, currency, time_window, timezone, soft::text, hard, created_at, updated_at
                """, binds, Self.decodeBudget
            ).first
        else { throw SluiceError.notFound("budget", scope.description) }
        pendingEvents.append(event(budget))
        return budget
    }

    func changeSpend(
        _ scope: BudgetScope, window: String, committed: ExactDecimal, held: ExactDecimal, limit: ExactDecimal?
    ) throws -> BudgetSpend? {
        var binds = Binds()
        binds.add(scope.description)
        binds.add(window)
        binds.add(committed.units)
        binds.add(held.units)
        binds.add(limit?.units)
        if committed.isNegative || held.isNegative {
            // A release: the row is there (a hold or a cost made it), and a CHECK keeps it at or
            // above zero. (An INSERT … ON CONFLICT checks the row it proposes before the conflict.)
            let changed = try rows(
                """
                UPDATE budget_spend SET committed_units = committed_units + $3, held_units = held_units + $4
                WHERE scope = $1 AND window_key = $2
                    AND ($5::bigint IS NULL OR committed_units::numeric + held_units + $3 + $4 <= $5::bigint)
                RETURNING \(Self.spendColumns)
                """, binds, Self.decodeSpend
            ).first
            if changed == nil, limit == nil, try budgetSpend(scope, window: window) == nil {
                throw SluiceError(
                    code: .storage,
                    message: "budget \(scope), window \(window): nothing is held or committed there to release")
            }
            return changed
        }
        // One statement: the row is made or locked, and the limit tested on its newest version. A
        // fresh row is made only when the change alone fits (spend is never below zero, so when it
        // does not, the stored row's would not either).
        do {
            return try rows(
                """
                INSERT INTO budget_spend AS s (scope, window_key, committed_units, held_units)
                SELECT $1, $2, $3, $4 WHERE $5::bigint IS NULL OR $3::numeric + $4::numeric <= $5::bigint
                ON CONFLICT (scope, window_key) DO UPDATE
                    SET committed_units = s.committed_units + excluded.committed_units,
                        held_units = s.held_units + excluded.held_units
                    WHERE $5::bigint IS NULL
                        OR s.committed_units::numeric + s.held_units + excluded.committed_units
                            + excluded.held_units <= $5::bigint
                RETURNING \(Self.spendColumns)
                """, binds, Self.decodeSpend
            ).first
        } catch let error as SluiceError where error.code == .storage {
            throw SluiceError(
                code: .storage,
                message: "budget \(scope), window \(window): adding committed \(committed) and held \(held) leaves "
                    + "the range a budget's sums keep (\(error.message))")
        }
    }

    func setSoftFired(_ scope: BudgetScope, window: String, percent: Int) throws {
        var binds = Binds()
        binds.add(scope.description)
        binds.add(window)
        binds.add(percent)
        try execute(
            """
            INSERT INTO budget_spend (scope, window_key, soft_fired) VALUES ($1, $2, $3)
            ON CONFLICT (scope, window_key) DO UPDATE SET soft_fired = excluded.soft_fired
            """, binds)
    }

    func putHold(_ hold: BudgetHold) throws {
        var binds = Binds()
        binds.add(hold.taskID)
        binds.add(hold.epoch)
        binds.add(hold.workerID)
        binds.add(hold.estimate.units)
        binds.add(hold.currency.code)
        binds.add(json: try JSONValue(encoding: hold.parts).jsonText)
        binds.add(hold.createdAt)
        try execute(
            """
            INSERT INTO budget_holds (task_id, epoch, worker_id, estimate_units, currency, parts, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (task_id, epoch) DO UPDATE SET parts = excluded.parts
            """, binds)
    }

    @discardableResult
    func deleteHold(taskID: TaskID, epoch: Int64) throws -> Bool {
        var binds = Binds()
        binds.add(taskID)
        binds.add(epoch)
        return try execute("DELETE FROM budget_holds WHERE task_id = $1 AND epoch = $2", binds) == 1
    }

    func insertGateHold(_ hold: GateHold) throws {
        var binds = Binds()
        binds.add(hold.ledgerID)
        binds.add(hold.estimate.units)
        binds.add(hold.currency.code)
        binds.add(json: try JSONValue(encoding: hold.parts).jsonText)
        binds.add(hold.createdAt)
        binds.add(hold.expiresAt)
        try execute(
            """
            INSERT INTO gate_holds (ledger_id, estimate_units, currency, parts, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6)
            """, binds)
    }

    @discardableResult
    func deleteGateHold(_ ledgerID: LedgerID) throws -> Bool {
        var binds = Binds()
        binds.add(ledgerID)
        return try execute("DELETE FROM gate_holds WHERE ledger_id = $1", binds) == 1
    }

    // MARK: - Mapping

    static func decodeBudget(_ row: inout Cells) throws -> Budget {
        let scope = try BudgetScope(parsing: row.string())
        let limit = ExactDecimal(units: try row.int64())
        let currency = try Currency(row.string())
        let window: BudgetWindow = try row.enumeration()
        let timeZone = try row.string()
        let soft = try row.json([Int].self)
        return try Budget(
            scope: scope, limit: limit, currency: currency, window: window, timeZone: timeZone, soft: soft,
            hard: row.bool(), createdAt: row.timestamp(), updatedAt: row.timestamp())
    }

    static func decodeSpend(_ row: inout Cells) throws -> BudgetSpend {
        BudgetSpend(
            scope: try BudgetScope(parsing: row.string()), windowKey: try row.string(),
            committed: ExactDecimal(units: try row.int64()), held: ExactDecimal(units: try row.int64()),
            softFired: try row.int())
    }

    static func decodeHold(_ row: inout Cells) throws -> BudgetHold {
        BudgetHold(
            taskID: try row.id(), epoch: try row.int64(), workerID: try row.id(),
            estimate: ExactDecimal(units: try row.int64()), currency: try Currency(row.string()),
            parts: try row.json([BudgetHoldPart].self), createdAt: try row.timestamp())
    }
}
