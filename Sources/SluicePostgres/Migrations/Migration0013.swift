// PostgreSQL migration 0013_test_quarantines. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0013_test_quarantines`: tests kept out of their gate's verdicts (SQLite's migration 0011).
    static let migration0013 = (
        name: "0013_test_quarantines",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 13: tests kept out of their gate's verdicts (they still
        -- run and are reported). One row per test of a gate; a released test keeps its row.

        CREATE TABLE test_quarantines (
            gate                 text COLLATE "C" NOT NULL CHECK (length(gate) > 0),
            test                 text COLLATE "C" NOT NULL CHECK (length(test) > 0),
            quarantined          boolean NOT NULL,
            automatic            boolean NOT NULL,
            quarantined_by       text NOT NULL CHECK (length(quarantined_by) > 0),
            quarantined_at       sluice_time NOT NULL,
            reason               text NOT NULL,
            passes_in_a_row      bigint NOT NULL CHECK (passes_in_a_row >= 0),
            released_by          text,
            released_at          sluice_time,
            release_reason       text,
            PRIMARY KEY (gate, test)
        );

        """#
    )
}
