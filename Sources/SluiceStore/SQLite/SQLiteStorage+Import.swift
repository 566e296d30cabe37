import Foundation
import GRDB
import SluiceCore

extension SQLiteTransaction: LedgerImporting {
    /// `sqlite:` and the file's device and inode (every path and link to one file gives the same
    /// identity), or `sqlite-memory:` and the connection for an in-memory database.
    package func databaseIdentity() throws -> String {
        let main = try Row.fetchAll(db, sql: "PRAGMA database_list").first { ($0["name"] as String?) == "main" }
        let path = main.flatMap { $0["file"] as String? } ?? ""
        guard !path.isEmpty else {
            return "sqlite-memory:\(UInt(bitPattern: ObjectIdentifier(db).hashValue))"
        }
        var status = stat()
        guard stat(path, &status) == 0 else { return "sqlite:" + path }
        return "sqlite:\(status.st_dev):\(status.st_ino)"
    }

    package func holdsNothing() throws -> Bool {
        let tables = [
            "workers", "patch_ledger", "patch_sources", "patch_contents", "test_gates", "costs", "cost_rollups",
            "tasks", "budgets", "budget_spend", "budget_holds", "currency_rates", "gate_holds", "test_quarantines",
            "events",
        ]
        let sql = "SELECT " + tables.map { "EXISTS (SELECT 1 FROM \($0))" }.joined(separator: " OR ")
        return try Bool.fetchOne(db, sql: sql) == false
    }

    /// Runs in the IMMEDIATE transaction of the unit, so no other writer can add a record between
    /// the emptiness check and the commit.
    ///
    /// `events.seq` is an INTEGER PRIMARY KEY without AUTOINCREMENT: the next event SQLite numbers
    /// gets the highest seq in the table plus one, so events appended after the copy follow the
    /// highest copied number (there is no `sqlite_sequence` row to move).
    package func importLedger(_ ledger: LedgerSnapshot) throws {
        try checkImportable(ledger)
        for worker in ledger.workers { try insertWorkerRow(worker) }
        for entry in ledger.patches { try insertPatchRows(entry, source: ledger.sources[entry.ledgerID]) }
        for gate in ledger.gates { try insertGateRow(gate) }
        for cost in ledger.costs { try insertCostRow(cost) }
        for task in ledger.tasks { try insertTaskRow(task) }
        try importBudgets(ledger)
        for event in ledger.events { try Self.append(event, keepingSequence: true, db) }
    }

    static let numberedEventInsert = """
        INSERT INTO events (seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Appends `event`, with its own sequence number when `keepingSequence` (an import), else with the
    /// next one.
    static func append(_ event: Event, keepingSequence: Bool, _ db: Database) throws {
        guard keepingSequence else { return try append(event, db) }
        var insert = try RawStatement(db, numberedEventInsert)
        insert.bind(Int(event.sequence))
        insert.bindEventColumns(event)
        try insert.execute()
    }
}
