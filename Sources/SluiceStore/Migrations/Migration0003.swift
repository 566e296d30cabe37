// Migration 0003_patch_origin. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0003_patch_origin`: where a patch was made and who wrote it, as its submitter said.
    static let migration0003 = (
        name: "0003_patch_origin",
        sql: #"""
        -- Sluice schema, version 3: the commit a patch was made on (patch submit --base, or the HEAD of
        -- --from-worktree), which lets a plain diff merge onto a branch that moved, and its author as
        -- "Name <email>" (patch submit --author), kept in the commit that lands it.

        ALTER TABLE patch_sources ADD COLUMN made_on TEXT CHECK (made_on IS NULL OR length(made_on) BETWEEN 40 AND 64);
        ALTER TABLE patch_sources ADD COLUMN author TEXT CHECK (author IS NULL OR length(author) BETWEEN 3 AND 1024);

        """#
    )
}
