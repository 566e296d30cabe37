// PostgreSQL migration 0011_gate_holds. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0011_gate_holds`: holds for patches' gate runs (SQLite's migration 0009).
    static let migration0011 = (
        name: "0011_gate_holds",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 11: holds for gate runs. One per patch being gated; the
        -- run removes it when the patch is done, and any later hold removes one past expires_at.

        CREATE TABLE gate_holds (
            ledger_id            sluice_ulid PRIMARY KEY,
            estimate_units       bigint NOT NULL CHECK (estimate_units >= 0),
            currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            parts                json NOT NULL,
            created_at           sluice_time NOT NULL,
            expires_at           sluice_time NOT NULL CHECK (expires_at > created_at)
        );

        """#
    )
}
