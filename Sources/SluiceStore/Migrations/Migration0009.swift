// Migration 0009_gate_holds. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0009_gate_holds`: what a patch's gates may cost, held on the budgets their costs
    /// count against while a run gates the patch.
    static let migration0009 = (
        name: "0009_gate_holds",
        sql: #"""
        -- Sluice schema, version 9: holds for gate runs. One per patch being gated; the run removes it
        -- when the patch is done, and any later hold removes one past expires_at (its run was killed).

        CREATE TABLE gate_holds (
            ledger_id            TEXT PRIMARY KEY CHECK (length(ledger_id) = 26),
            estimate_units       INTEGER NOT NULL CHECK (estimate_units >= 0),
            currency             TEXT NOT NULL CHECK (length(currency) = 3),
            parts                TEXT NOT NULL CHECK (json_valid(parts)),
            created_at           TEXT NOT NULL,
            expires_at           TEXT NOT NULL CHECK (expires_at > created_at)
        ) WITHOUT ROWID;

        """#
    )
}
