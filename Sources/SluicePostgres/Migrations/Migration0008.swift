// PostgreSQL migration 0008_cost_daily. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0008_cost_daily`: running sums of costs per UTC day, project, resource type,
    /// resource name (a model) and currency (SQLite's migration 0006).
    static let migration0008 = (
        name: "0008_cost_daily",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 8: cost_daily, kept by a trigger in the same
        -- transaction as each insert or delete of a cost, so `sluice cost report` by project, model or
        -- resource type reads one row per day and key. '' stands for "none" in the key columns.

        CREATE TABLE cost_daily (
            day                  text COLLATE "C" NOT NULL,
            project_key          text COLLATE "C" NOT NULL,
            resource_type        text COLLATE "C" NOT NULL,
            name_key             text COLLATE "C" NOT NULL,
            currency             text COLLATE "C" NOT NULL,
            total_units          bigint NOT NULL CHECK (total_units >= 0),
            record_count         bigint NOT NULL CHECK (record_count >= 0),
            unpriced_count       bigint NOT NULL CHECK (unpriced_count >= 0),
            PRIMARY KEY (day, project_key, resource_type, name_key, currency)
        );

        INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                unpriced_count)
            SELECT substr(recorded_at, 1, 10), coalesce(project_id, ''), resource_type, coalesce(resource_name, ''),
                   currency, sum(amount_units), count(*),
                   count(*) FILTER (WHERE metadata->>'amount_source' = 'unpriced')
            FROM costs GROUP BY 1, 2, 3, 4, 5;

        CREATE FUNCTION sluice_costs_daily() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units,
                                        record_count, unpriced_count)
                VALUES (substr(NEW.recorded_at, 1, 10), coalesce(NEW.project_id, ''), NEW.resource_type,
                        coalesce(NEW.resource_name, ''), NEW.currency, NEW.amount_units, 1,
                        CASE WHEN NEW.metadata->>'amount_source' = 'unpriced' THEN 1 ELSE 0 END)
                ON CONFLICT (day, project_key, resource_type, name_key, currency) DO UPDATE
                    SET total_units = cost_daily.total_units + excluded.total_units,
                        record_count = cost_daily.record_count + 1,
                        unpriced_count = cost_daily.unpriced_count + excluded.unpriced_count;
                RETURN NEW;
            END IF;
            UPDATE cost_daily
                SET total_units = total_units - OLD.amount_units, record_count = record_count - 1,
                    unpriced_count = unpriced_count
                        - CASE WHEN OLD.metadata->>'amount_source' = 'unpriced' THEN 1 ELSE 0 END
                WHERE day = substr(OLD.recorded_at, 1, 10) AND project_key = coalesce(OLD.project_id, '')
                  AND resource_type = OLD.resource_type AND name_key = coalesce(OLD.resource_name, '')
                  AND currency = OLD.currency;
            RETURN OLD;
        END
        $$;
        CREATE TRIGGER costs_daily AFTER INSERT OR DELETE ON costs
            FOR EACH ROW EXECUTE FUNCTION sluice_costs_daily();

        """#
    )
}
