// PostgreSQL migration 0004_settled_bound. A released migration is never edited: add a new
// numbered file.

extension PostgresStorage {
    /// Migration `0004_settled_bound`: a reader of the log's cursor waits for the writers in flight
    /// inside one statement, never across a round trip to its client.
    static let migration0004 = (
        name: "0004_settled_bound",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 4: the settled bound of the event log.
        --
        -- Writers hold the log's lock in SHARE mode from their first event to the end of their
        -- transaction (0003). sluice_settled_bound() takes it exclusively, reads the highest number
        -- drawn so far (or copied, if higher) and returns it. It is granted only once every writer
        -- that drew a number has ended, and PostgreSQL releases a transaction's locks only after its
        -- commit is visible to every new snapshot, so every event numbered up to the bound is, for
        -- any snapshot taken after the call, either visible or never will be (its writer rolled
        -- back). A reader returns events up to the bound only: the cursor never skips. Run on its own
        -- (autocommit), the function's transaction ends with the statement, so the lock is held only
        -- while the server runs it, never while a slow or stopped client reads the answer. Writers
        -- that come while it waits queue behind it (a waiting exclusive request goes before later
        -- shared ones), so a reader is never starved; they wait no longer than the writers in flight
        -- take to commit.

        CREATE FUNCTION sluice_settled_bound() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            bound bigint;
        BEGIN
            -- 8317151707346042881 = 0x736C756963650001 ('sluice', 1): the event log's lock.
            PERFORM pg_advisory_xact_lock(8317151707346042881);
            SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO bound FROM events_seq;
            -- Events copied with their own numbers (0002) may lie past the sequence until the copy
            -- moves it; with the lock held, every one that is visible is settled.
            RETURN greatest(bound, (SELECT max(seq) FROM events));
        END
        $$;

        """#
    )
}
