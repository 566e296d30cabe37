// Migration 0010_patch_priority. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0010_patch_priority`: how soon the pipeline takes a submitted patch.
    static let migration0010 = (
        name: "0010_patch_priority",
        sql: #"""
        -- Sluice schema, version 10: a submitted patch's priority. The pipeline takes queued patches
        -- by priority (urgent, high, normal, low), then by age. Patches submitted before are normal.

        ALTER TABLE patch_sources ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
            CHECK (priority IN ('low', 'normal', 'high', 'urgent'));

        """#
    )
}
