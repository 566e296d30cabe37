// PostgreSQL migration 0003_shared_event_lock. A released migration is never edited: add a new
// numbered file.

extension PostgresStorage {
    /// Migration `0003_shared_event_lock`: writers of events no longer queue behind one another.
    static let migration0003 = (
        name: "0003_shared_event_lock",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 3: writers share the event log's lock; readers of the
        -- log's cursor take it alone.
        --
        -- Until now every writer took the log's lock exclusively before drawing a sequence number and
        -- held it through its COMMIT, so commits of events ran one at a time, each waiting for the
        -- previous one's flush to disk. Now a writer takes the lock in SHARE mode: writers draw numbers
        -- and commit together (and PostgreSQL flushes their commits together), and numbers may commit
        -- out of order. A reader that needs the log as a settled prefix ("every event after N") takes
        -- the lock exclusively before it takes its snapshot. It gets it only once every writer that
        -- drew a number has ended, and PostgreSQL releases a transaction's locks only after its commit
        -- is visible to every new snapshot; writers that come later wait for the reader (a waiting
        -- exclusive request is served before later shared ones), and draw higher numbers. So the
        -- reader's snapshot holds every number it will ever hold up to the highest it sees: the cursor
        -- never skips. Gaps left by rolled-back writers stay gaps.
        --
        -- A copy (sluice.copying_events = 'on', see 0002) still takes the lock exclusively: it checks
        -- that its numbers come after every event already in the log.

        CREATE OR REPLACE FUNCTION sluice_events_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            newest bigint;
        BEGIN
            -- 8317151707346042881 = 0x736C756963650001 ('sluice', 1): the event log's lock.
            IF current_setting('sluice.copying_events', true) = 'on' THEN
                PERFORM pg_advisory_xact_lock(8317151707346042881);
                SELECT max(seq) INTO newest FROM events;
                IF NEW.seq IS NULL OR NEW.seq <= coalesce(newest, 0) THEN
                    PERFORM sluice_refuse('a copied event must come after every event already in the log');
                END IF;
                RETURN NEW;
            END IF;
            PERFORM pg_advisory_xact_lock_shared(8317151707346042881);
            NEW.seq := nextval('events_seq');
            RETURN NEW;
        END
        $$;

        """#
    )
}
