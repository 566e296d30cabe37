// PostgreSQL migration 0002_copied_events. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0002_copied_events`: the event log takes events copied from another database
    /// (`sluice db copy`) with the sequence numbers they had there.
    static let migration0002 = (
        name: "0002_copied_events",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 2: a copy of a whole ledger keeps its events' sequence
        -- numbers. The importing transaction sets sluice.copying_events to 'on' for itself alone
        -- (set_config(..., true)); its events then keep the seq they carry, which must come after every
        -- event already in the log, so the log still grows only at its end, and still under the log's
        -- lock (see 0001). The importer then moves events_seq past the highest copied number. Every
        -- other insert is numbered as before.

        CREATE OR REPLACE FUNCTION sluice_events_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            newest bigint;
        BEGIN
            -- 8317151707346042881 = 0x736C756963650001 ('sluice', 1): the event log's lock.
            PERFORM pg_advisory_xact_lock(8317151707346042881);
            IF current_setting('sluice.copying_events', true) = 'on' THEN
                SELECT max(seq) INTO newest FROM events;
                IF NEW.seq IS NULL OR NEW.seq <= coalesce(newest, 0) THEN
                    PERFORM sluice_refuse('a copied event must come after every event already in the log');
                END IF;
                RETURN NEW;
            END IF;
            NEW.seq := nextval('events_seq');
            RETURN NEW;
        END
        $$;

        """#
    )
}
