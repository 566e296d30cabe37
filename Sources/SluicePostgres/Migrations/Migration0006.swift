// PostgreSQL migration 0006_patch_history. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0006_patch_history`: a patch's state history from the event log, as a function.
    static let migration0006 = (
        name: "0006_patch_history",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 6: every read of a patch returns its state history,
        -- the patch's events in log order as one JSON array of [state, at, reason]. As a subquery of
        -- that read, the history made the statement costly to plan, and a statement sent without
        -- being prepared is planned every time: a fifth of the server's time in a transition. In a
        -- PL/pgSQL function the query is planned once per session and kept.

        CREATE FUNCTION sluice_patch_history(ledger text) RETURNS text LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN (
                SELECT json_agg(json_build_array(to_state, at, reason) ORDER BY seq)::text FROM events
                WHERE entity_kind = 'patch' AND to_state IS NOT NULL AND entity_id = ledger COLLATE "C");
        END
        $$;

        """#
    )
}
