// Migration 0011_test_quarantines. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0011_test_quarantines`: tests kept out of their gate's verdicts.
    static let migration0011 = (
        name: "0011_test_quarantines",
        sql: #"""
        -- Sluice schema, version 11: tests kept out of their gate's verdicts (they still run and are
        -- reported). One row per test of a gate; a released test keeps its row, with who released it.

        CREATE TABLE test_quarantines (
            gate                 TEXT NOT NULL CHECK (length(gate) > 0),
            test                 TEXT NOT NULL CHECK (length(test) > 0),
            quarantined          INTEGER NOT NULL CHECK (quarantined IN (0, 1)),
            automatic            INTEGER NOT NULL CHECK (automatic IN (0, 1)),
            quarantined_by       TEXT NOT NULL CHECK (length(quarantined_by) > 0),
            quarantined_at       TEXT NOT NULL,
            reason               TEXT NOT NULL,
            passes_in_a_row      INTEGER NOT NULL CHECK (passes_in_a_row >= 0),
            released_by          TEXT,
            released_at          TEXT,
            release_reason       TEXT,
            PRIMARY KEY (gate, test)
        ) WITHOUT ROWID;

        """#
    )
}
