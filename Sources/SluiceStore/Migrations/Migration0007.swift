// Migration 0007_unpriced. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0007_unpriced`: an unpriced cost record carries no amount (NULL, never 0), and the
    /// records whose agent reported a cost that disagrees with the priced amount are indexed for
    /// reports.
    static let migration0007 = (
        name: "0007_unpriced",
        sql: #"""
        -- Sluice schema, version 7. SQLite cannot relax NOT NULL in place, so costs is rebuilt (its
        -- triggers and indexes go with the old table and are made again). Records the supervisor
        -- stored as unpriced (metadata amount_source "unpriced", amount 0) lose their zero: an unknown
        -- amount is not a free one. Only zeros: a record with an amount keeps it, whatever its
        -- metadata says, so the running sums stay right. They count an unpriced record and add nothing.

        CREATE TABLE costs_0007 (
            cost_id              TEXT PRIMARY KEY NOT NULL CHECK (length(cost_id) = 26),
            execution_request_id TEXT CHECK (execution_request_id IS NULL OR length(execution_request_id) = 26),
            project_id           TEXT CHECK (project_id IS NULL OR project_id <> ''),
            resource_type        TEXT NOT NULL CHECK (resource_type IN ('api_call', 'compute_time', 'storage', 'network',
                                     'tool_usage', 'custom')),
            resource_name        TEXT,
            amount_units         INTEGER CHECK (amount_units IS NULL OR amount_units >= 0),
            currency             TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
            usage_quantity_units INTEGER,
            usage_unit           TEXT,
            usage_rate_units     INTEGER,
            recorded_at          TEXT NOT NULL,
            metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            CHECK ((usage_quantity_units IS NULL) = (usage_rate_units IS NULL)),
            CHECK (amount_units IS NOT NULL OR usage_quantity_units IS NULL)
        ) WITHOUT ROWID;

        INSERT INTO costs_0007
            SELECT cost_id, execution_request_id, project_id, resource_type, resource_name,
                   CASE WHEN json_extract(metadata, '$.amount_source') IS 'unpriced' AND usage_quantity_units IS NULL
                             AND amount_units = 0
                        THEN NULL ELSE amount_units END,
                   currency, usage_quantity_units, usage_unit, usage_rate_units, recorded_at, metadata
            FROM costs;

        DROP TABLE costs;
        ALTER TABLE costs_0007 RENAME TO costs;

        CREATE INDEX costs_by_recorded ON costs (recorded_at, cost_id);
        CREATE INDEX costs_by_project ON costs (project_id, recorded_at);
        CREATE INDEX costs_by_request ON costs (execution_request_id, recorded_at);
        -- The few records whose agent's own cost disagrees with the price, for reports.
        CREATE INDEX costs_disagreeing ON costs (recorded_at)
            WHERE json_extract(metadata, '$.reported_disagrees') = 1;

        CREATE TRIGGER costs_rollup_insert AFTER INSERT ON costs BEGIN
            INSERT INTO cost_rollups (project_key, request_key, resource_type, currency, total_units, record_count)
            VALUES (coalesce(NEW.project_id, ''), coalesce(NEW.execution_request_id, ''), NEW.resource_type, NEW.currency,
                    coalesce(NEW.amount_units, 0), 1)
            ON CONFLICT (project_key, request_key, resource_type, currency) DO UPDATE
                SET total_units = total_units + excluded.total_units, record_count = record_count + 1;
        END;

        CREATE TRIGGER costs_rollup_delete AFTER DELETE ON costs BEGIN
            UPDATE cost_rollups
                SET total_units = total_units - coalesce(OLD.amount_units, 0), record_count = record_count - 1
                WHERE project_key = coalesce(OLD.project_id, '') AND request_key = coalesce(OLD.execution_request_id, '')
                  AND resource_type = OLD.resource_type AND currency = OLD.currency;
        END;

        CREATE TRIGGER costs_no_update BEFORE UPDATE ON costs BEGIN
            SELECT RAISE(ABORT, 'cost records are immutable: delete and record again');
        END;

        -- cost_daily's unpriced_count now counts records without an amount; its rows are rebuilt
        -- from the migrated records so the two agree.
        DELETE FROM cost_daily;
        INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                unpriced_count)
            SELECT substr(recorded_at, 1, 10), coalesce(project_id, ''), resource_type, coalesce(resource_name, ''),
                   currency, coalesce(sum(amount_units), 0), count(*), sum(amount_units IS NULL)
            FROM costs GROUP BY 1, 2, 3, 4, 5;

        CREATE TRIGGER costs_daily_insert AFTER INSERT ON costs BEGIN
            INSERT INTO cost_daily (day, project_key, resource_type, name_key, currency, total_units, record_count,
                                    unpriced_count)
            VALUES (substr(NEW.recorded_at, 1, 10), coalesce(NEW.project_id, ''), NEW.resource_type,
                    coalesce(NEW.resource_name, ''), NEW.currency, coalesce(NEW.amount_units, 0), 1,
                    NEW.amount_units IS NULL)
            ON CONFLICT (day, project_key, resource_type, name_key, currency) DO UPDATE
                SET total_units = total_units + excluded.total_units, record_count = record_count + 1,
                    unpriced_count = unpriced_count + excluded.unpriced_count;
        END;

        CREATE TRIGGER costs_daily_delete AFTER DELETE ON costs BEGIN
            UPDATE cost_daily
                SET total_units = total_units - coalesce(OLD.amount_units, 0), record_count = record_count - 1,
                    unpriced_count = unpriced_count - (OLD.amount_units IS NULL)
                WHERE day = substr(OLD.recorded_at, 1, 10) AND project_key = coalesce(OLD.project_id, '')
                  AND resource_type = OLD.resource_type AND name_key = coalesce(OLD.resource_name, '')
                  AND currency = OLD.currency;
        END;

        """#
    )
}
