import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let quarantineColumns = ColumnSet([
        "gate", "test", "quarantined", "automatic", "quarantined_by", "quarantined_at", "reason", "passes_in_a_row",
        "released_by", "released_at", "release_reason",
    ])

    package func testQuarantines(gate: String?) throws -> [TestQuarantine] {
        let select = "SELECT \(Self.quarantineColumns.sql) FROM test_quarantines"
        let rows =
            if let gate {
                try Row.fetchAll(
                    db.cachedStatement(sql: "\(select) WHERE gate = ? ORDER BY test"), arguments: [gate])
            } else {
                try Row.fetchAll(db.cachedStatement(sql: "\(select) ORDER BY gate, test"))
            }
        return try rows.map(Self.decodeQuarantine)
    }

    package func putTestQuarantine(_ quarantine: TestQuarantine, event: Event?) throws {
        let columns = Self.quarantineColumns
        try db.cachedStatement(
            sql: """
                INSERT INTO test_quarantines (\(columns.sql)) VALUES (\(columns.placeholders))
                ON CONFLICT (gate, test) DO UPDATE SET
                    quarantined = excluded.quarantined, automatic = excluded.automatic,
                    quarantined_by = excluded.quarantined_by, quarantined_at = excluded.quarantined_at,
                    reason = excluded.reason, passes_in_a_row = excluded.passes_in_a_row,
                    released_by = excluded.released_by, released_at = excluded.released_at,
                    release_reason = excluded.release_reason
                """
        ).execute(arguments: [
            quarantine.gate, quarantine.test, quarantine.quarantined, quarantine.automatic, quarantine.quarantinedBy,
            quarantine.quarantinedAt.description, quarantine.reason, quarantine.passesInARow, quarantine.releasedBy,
            quarantine.releasedAt?.description, quarantine.releaseReason,
        ])
        if let event { try Self.append(event, db) }
    }

    static func decodeQuarantine(_ row: Row) throws -> TestQuarantine {
        let row = RowReader(row, quarantineColumns)
        return TestQuarantine(
            gate: try Column.string(row, "gate"), test: try Column.string(row, "test"),
            quarantined: (row["quarantined"] as Int64) == 1, automatic: (row["automatic"] as Int64) == 1,
            quarantinedBy: try Column.string(row, "quarantined_by"),
            quarantinedAt: try Column.timestamp(row, "quarantined_at"), reason: try Column.string(row, "reason"),
            passesInARow: Int(row["passes_in_a_row"] as Int64), releasedBy: row["released_by"],
            releasedAt: try Column.optionalTimestamp(row, "released_at"), releaseReason: row["release_reason"])
    }
}
