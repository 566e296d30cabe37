import SluiceCore
import SluiceStore

extension PostgresTransaction: LedgerImporting {
    /// `postgres:`, the server's start time and port, and the database's oid and name: the same for
    /// every URL (host name, address, socket) that reaches one database of one running server.
    func databaseIdentity() throws -> String {
        let found = try rows(
            """
            SELECT pg_postmaster_start_time()::text, current_setting('port'), d.oid::text, d.datname::text
            FROM pg_database d WHERE d.datname = current_database()
            """
        ) { row in
            [try row.string(), try row.string(), try row.string(), try row.string()].joined(separator: ":")
        }
        return "postgres:" + (found.first ?? "unknown")
    }

    func holdsNothing() throws -> Bool {
        let tables = [
            "workers", "patch_ledger", "patch_sources", "patch_contents", "test_gates", "costs", "cost_rollups",
            "tasks", "budgets", "budget_spend", "budget_holds", "currency_rates", "gate_holds", "test_quarantines",
            "events",
        ]
        let sql = "SELECT NOT (" + tables.map { "EXISTS (SELECT 1 FROM \($0))" }.joined(separator: " OR ") + ")"
        return try rows(sql) { try $0.bool() }.first ?? false
    }

    /// One READ COMMITTED transaction (the unit's). It takes the event log's lock first: every other
    /// writer needs that lock to commit (each unit appends events), so none can commit a record between
    /// the emptiness check and this unit's commit. The costs' per-currency locks are not taken (the
    /// log's lock must stay the last lock any unit waits for); the totals are checked on the copied
    /// records alone, which is exact in an empty database.
    func importLedger(_ ledger: LedgerSnapshot) throws {
        try query("SELECT pg_advisory_xact_lock(\(Self.eventLogLockKey))")
        try checkImportable(ledger)
        for worker in ledger.workers { try insertWorkerRow(worker) }
        for entry in ledger.patches { try insertPatchRows(entry, source: ledger.sources[entry.ledgerID]) }
        for gate in ledger.gates { try insertGateRow(gate) }
        for cost in ledger.costs { try insertCostRow(cost) }
        for task in ledger.tasks { try insertTaskRow(task) }
        try importBudgets(ledger)
        guard let last = ledger.events.last?.sequence else { return }
        // Migration 0002: with this setting on, for this transaction only, the trigger keeps each
        // event's seq (refusing one that is not past the log's end) instead of drawing the next.
        try query("SELECT set_config('sluice.copying_events', 'on', true)")
        for event in ledger.events {
            var binds = Binds()
            binds.add(event.sequence)
            binds.bindEventColumns(event)
            try execute(
                """
                INSERT INTO events (seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """, binds)
        }
        try query("SELECT set_config('sluice.copying_events', 'off', true)")
        // The next event drawn from the sequence comes after the highest copied one. Never move it back:
        // numbers it already handed out (to units that rolled back) stay unused.
        var binds = Binds()
        binds.add(last)
        try query("SELECT setval('events_seq', greatest($1, (SELECT last_value FROM events_seq)))", binds)
    }

    /// 8317151707346042881 = 0x736C756963650001 ('sluice', 1): the event log's lock (migration 0001).
    static let eventLogLockKey: Int64 = 0x736C_7569_6365_0001
}
