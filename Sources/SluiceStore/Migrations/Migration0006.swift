// Migration 0006_cost_daily. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0006_cost_daily`: running sums of costs per UTC day, project, resource type,
    /// resource name (a model) and currency, for reports that stay fast at millions of records.
    static let migration0006 = (
        name: "0006_cost_daily",
        sql: #"""
        -- Sluice schema, version 6: cost_daily, kept by triggers in the same transaction as each
        -- insert or delete of a cost, so `sluice cost report` by project, model or resource type reads
        -- one row per day and key instead of every record. '' stands for "none" in the key columns.
        -- unpriced_count counts records whose metadata says amount_source "unpriced".

        CREATE TABLE cost_daily (
            day                  TEXT NOT NULL,
            project_key          TEXT NOT NULL,
            resource_type        TEXT NOT NULL,
            name_key             TEXT NOT NULL,
            currency             TEXT NOT NULL,
            total_units          INTEGER NOT NULL CHECK (total_units >= 0),
            record_count         INTEGER NOT NULL CHECK (record_count >= 0),
            unpriced_count       INTEGER NOT NULL CHECK (unpriced_count >= 0),
            PRIMARY KEY (day, project_key, resource_type, name_key, currency)
        ) WITHOUT ROWID;

        INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                unpriced_count)
            SELECT substr(recorded_at, 1, 10), coalesce(project_id, ''), resource_type, coalesce(resource_name, ''),
                   currency, sum(amount_units), count(*),
                   sum(json_extract(metadata, '$.amount_source') IS 'unpriced')
            FROM costs GROUP BY 1, 2, 3, 4, 5;

        CREATE TRIGGER costs_daily_insert AFTER INSERT ON costs BEGIN
            INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                    unpriced_count)
            VALUES (substr(NEW.recorded_at, 1, 10), coalesce(NEW.project_id, ''), NEW.resource_type,
                    coalesce(NEW.resource_name, ''), NEW.currency, NEW.amount_units, 1,
                    json_extract(NEW.metadata, '$.amount_source') IS 'unpriced')
            ON CONFLICT (day, project_key, resource_type, name_key, currency) DO UPDATE
                SET total_units = total_units + excluded.total_units, record_count = record_count + 1,
                    unpriced_count = unpriced_count + excluded.unpriced_count;
        END;

        CREATE TRIGGER costs_daily_delete AFTER DELETE ON costs BEGIN
            UPDATE cost_daily
                SET total_units = total_units - OLD.amount_units, record_count = record_count - 1,
                    unpriced_count = unpriced_count - (json_extract(OLD.metadata, '$.amount_source') IS 'unpriced')
                WHERE day = substr(OLD.recorded_at, 1, 10) AND project_key = coalesce(OLD.project_id, '')
                  AND resource_type = OLD.resource_type AND name_key = coalesce(OLD.resource_name, '')
                  AND currency = OLD.currency;
        END;

        """#
    )
}
