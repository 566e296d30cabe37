// The released migration 0002_patch_contents, embedded so that the binary needs no resource bundle.
// A released migration is never edited: its text is exactly the original 0002_patch_contents.sql.

extension SQLiteStorage {
    /// Migration `0002_patch_contents`.
    static let migration0002 = (
        name: "0002_patch_contents",
        sql: #"""
        -- Sluice schema, version 2: the diffs themselves, content-addressed, and what the landing
        -- pipeline needs to resume (the commit a patch was applied on, tested as, and landed as).

        CREATE TABLE patch_contents (
            sha256               TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
            bytes                BLOB NOT NULL,
            size                 INTEGER NOT NULL CHECK (size >= 0)
        ) WITHOUT ROWID;

        CREATE TRIGGER patch_contents_immutable BEFORE UPDATE ON patch_contents BEGIN
            SELECT RAISE(ABORT, 'patch contents are immutable');
        END;

        CREATE TRIGGER patch_contents_kept BEFORE DELETE ON patch_contents BEGIN
            SELECT RAISE(ABORT, 'patch contents are never deleted');
        END;

        CREATE TABLE patch_sources (
            ledger_id            TEXT PRIMARY KEY NOT NULL REFERENCES patch_ledger (ledger_id),
            sha256               TEXT NOT NULL REFERENCES patch_contents (sha256),
            message              TEXT,
            base_commit          TEXT,
            tested_commit        TEXT,
            landed_commit        TEXT
        ) WITHOUT ROWID;
        CREATE INDEX patch_sources_by_content ON patch_sources (sha256);

        """#
    )
}
