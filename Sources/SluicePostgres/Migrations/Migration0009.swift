// PostgreSQL migration 0009_unpriced. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0009_unpriced`: an unpriced cost record carries no amount (NULL, never 0), and the
    /// records whose agent reported a cost that disagrees with the priced amount are indexed for
    /// reports (SQLite's migration 0007).
    static let migration0009 = (
        name: "0009_unpriced",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 9. Records the supervisor stored as unpriced (metadata
        -- amount_source "unpriced", amount 0) lose their zero: an unknown amount is not a free one.
        -- Only zeros: a record with an amount keeps it, whatever its metadata says, so the running
        -- sums stay right. They count an unpriced record and add nothing.

        ALTER TABLE costs ALTER COLUMN amount_units DROP NOT NULL;
        ALTER TABLE costs ADD CONSTRAINT costs_unpriced_without_usage
            CHECK (amount_units IS NOT NULL OR usage_quantity_units IS NULL);

        -- The one rewrite cost records ever get, made here with the immutability trigger off (the
        -- running sums' trigger fires on insert and delete only; a zero becoming NULL changes no sum).
        ALTER TABLE costs DISABLE TRIGGER costs_no_update;
        UPDATE costs SET amount_units = NULL
            WHERE metadata->>'amount_source' = 'unpriced' AND usage_quantity_units IS NULL AND amount_units = 0;
        ALTER TABLE costs ENABLE TRIGGER costs_no_update;

        -- The few records whose agent's own cost disagrees with the price, for reports.
        CREATE INDEX costs_disagreeing ON costs (recorded_at)
            WHERE (metadata->>'reported_disagrees') = 'true';

        CREATE OR REPLACE FUNCTION sluice_costs_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO cost_rollups (project_key, request_key, resource_type, currency, total_units, record_count)
                VALUES (coalesce(NEW.project_id, ''), coalesce(NEW.execution_request_id, ''), NEW.resource_type,
                        NEW.currency, coalesce(NEW.amount_units, 0), 1)
                ON CONFLICT (project_key, request_key, resource_type, currency) DO UPDATE
                    SET total_units = cost_rollups.total_units + excluded.total_units,
                        record_count = cost_rollups.record_count + 1;
                RETURN NEW;
            END IF;
            UPDATE cost_rollups
                SET total_units = total_units - coalesce(OLD.amount_units, 0), record_count = record_count - 1
                WHERE project_key = coalesce(OLD.project_id, '') AND request_key = coalesce(OLD.execution_request_id, '')
                  AND resource_type = OLD.resource_type AND currency = OLD.currency;
            RETURN OLD;
        END
        $$;

        -- cost_daily's unpriced_count now counts records without an amount; its rows are rebuilt from
        -- the migrated records so the two agree.
        DELETE FROM cost_daily;
        INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                unpriced_count)
            SELECT substr(recorded_at, 1, 10), coalesce(project_id, ''), resource_type, coalesce(resource_name, ''),
                   currency, coalesce(sum(amount_units), 0), count(*), count(*) FILTER (WHERE amount_units IS NULL)
            FROM costs GROUP BY 1, 2, 3, 4, 5;

        CREATE OR REPLACE FUNCTION sluice_costs_daily() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units,
                                        record_count, unpriced_count)
                VALUES (substr(NEW.recorded_at, 1, 10), coalesce(NEW.project_id, ''), NEW.resource_type,
                        coalesce(NEW.resource_name, ''), NEW.currency, coalesce(NEW.amount_units, 0), 1,
                        CASE WHEN NEW.amount_units IS NULL THEN 1 ELSE 0 END)
                ON CONFLICT (day, project_key, resource_type, name_key, currency) DO UPDATE
                    SET total_units = cost_daily.total_units + excluded.total_units,
                        record_count = cost_daily.record_count + 1,
                        unpriced_count = cost_daily.unpriced_count + excluded.unpriced_count;
                RETURN NEW;
            END IF;
            UPDATE cost_daily
                SET total_units = total_units - coalesce(OLD.amount_units, 0), record_count = record_count - 1,
                    unpriced_count = unpriced_count - CASE WHEN OLD.amount_units IS NULL THEN 1 ELSE 0 END
                WHERE day = substr(OLD.recorded_at, 1, 10) AND project_key = coalesce(OLD.project_id, '')
                  AND resource_type = OLD.resource_type AND name_key = coalesce(OLD.resource_name, '')
                  AND currency = OLD.currency;
            RETURN OLD;
        END
        $$;

        """#
    )
}
