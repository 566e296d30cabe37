// PostgreSQL migration 0012_patch_priority. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0012_patch_priority`: how soon the pipeline takes a submitted patch (SQLite's
    /// migration 0010).
    static let migration0012 = (
        name: "0012_patch_priority",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 12: a submitted patch's priority. The pipeline takes
        -- queued patches by priority (urgent, high, normal, low), then by age. Patches submitted
        -- before are normal.

        ALTER TABLE patch_sources ADD COLUMN priority text NOT NULL DEFAULT 'normal'
            CHECK (priority IN ('low', 'normal', 'high', 'urgent'));

        """#
    )
}
