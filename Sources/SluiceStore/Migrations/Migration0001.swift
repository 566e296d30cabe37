// The released migration 0001_initial, embedded so that the binary needs no resource bundle.
// A released migration is never edited: its text is exactly the original 0001_initial.sql.

extension SQLiteStorage {
    /// Migration `0001_initial`.
    static let migration0001 = (
        name: "0001_initial",
        sql: #"""
        -- Sluice schema, version 1. A released migration is never edited: add a new numbered file.
        -- Timestamps are ISO 8601 UTC text of fixed width, so text order is time order.
        -- Entity tables are keyed by their ULID WITHOUT ROWID: one B-tree seek per lookup, no second index.
        -- Money is stored as integer billionths of the currency unit, so SQL sums are exact.

        CREATE TABLE workers (
            worker_id            TEXT PRIMARY KEY NOT NULL CHECK (length(worker_id) = 26),
            worker_type          TEXT NOT NULL CHECK (worker_type IN ('executor', 'monitor', 'validator', 'scheduler', 'custom')),
            state                TEXT NOT NULL CHECK (state IN ('idle', 'busy', 'paused', 'stopped', 'crashed')),
            current_task_id      TEXT,
            started_at           TEXT NOT NULL,
            last_heartbeat       TEXT NOT NULL,
            -- The lease, on the database's clock (Unix seconds); staleness is judged against it alone.
            lease_renewed_at     REAL NOT NULL,
            stopped_at           TEXT,
            crashed_at           TEXT,
            crash_error_message  TEXT,
            crash_stack_trace    TEXT,
            tasks_completed      INTEGER NOT NULL DEFAULT 0 CHECK (tasks_completed >= 0),
            tasks_failed         INTEGER NOT NULL DEFAULT 0 CHECK (tasks_failed >= 0),
            total_execution_time REAL NOT NULL DEFAULT 0 CHECK (total_execution_time >= 0),
            max_parallel_tasks   INTEGER NOT NULL CHECK (max_parallel_tasks >= 1),
            heartbeat_interval   INTEGER NOT NULL CHECK (heartbeat_interval >= 1),
            timeout_seconds      INTEGER NOT NULL CHECK (timeout_seconds >= 1),
            metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            CHECK ((state = 'busy') = (current_task_id IS NOT NULL) OR state = 'paused')
        ) WITHOUT ROWID;
        CREATE INDEX workers_by_state ON workers (state, started_at);
        CREATE INDEX workers_by_type ON workers (worker_type, started_at);

        CREATE TABLE patch_ledger (
            ledger_id            TEXT PRIMARY KEY NOT NULL CHECK (length(ledger_id) = 26),
            patch_id             TEXT NOT NULL UNIQUE CHECK (length(patch_id) = 26),
            project_id           TEXT NOT NULL CHECK (project_id <> ''),
            phase_id             TEXT,
            workstream_id        TEXT,
            execution_request_id TEXT CHECK (execution_request_id IS NULL OR length(execution_request_id) = 26),
            state                TEXT NOT NULL CHECK (state IN ('created', 'validated', 'queued', 'applied', 'apply_failed',
                                     'verified', 'committed', 'rolled_back', 'quarantined', 'dropped')),
            format_ok            INTEGER NOT NULL DEFAULT 0 CHECK (format_ok IN (0, 1)),
            scope_ok             INTEGER NOT NULL DEFAULT 0 CHECK (scope_ok IN (0, 1)),
            constraints_ok       INTEGER NOT NULL DEFAULT 0 CHECK (constraints_ok IN (0, 1)),
            tests_ran            INTEGER NOT NULL DEFAULT 0 CHECK (tests_ran IN (0, 1)),
            tests_passed         INTEGER NOT NULL DEFAULT 0 CHECK (tests_passed IN (0, 1)),
            validation_errors    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(validation_errors)),
            apply_attempts       INTEGER NOT NULL DEFAULT 0 CHECK (apply_attempts >= 0),
            last_attempt_at      TEXT,
            last_error_code      TEXT,
            last_error_message   TEXT,
            workspace_path       TEXT,
            applied_files        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(applied_files)),
            is_quarantined       INTEGER NOT NULL DEFAULT 0 CHECK (is_quarantined IN (0, 1)),
            quarantine_reason    TEXT,
            quarantine_path      TEXT,
            quarantined_at       TEXT,
            replaces_patch_id    TEXT,
            rollback_of_patch_id TEXT,
            chain_id             TEXT,
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX patch_ledger_by_project ON patch_ledger (project_id, created_at);
        CREATE INDEX patch_ledger_by_state ON patch_ledger (state, created_at);
        CREATE INDEX patch_ledger_by_workstream ON patch_ledger (workstream_id, created_at);

        CREATE TABLE test_gates (
            gate_id              TEXT PRIMARY KEY NOT NULL CHECK (length(gate_id) = 26),
            name                 TEXT NOT NULL CHECK (name <> ''),
            gate_type            TEXT NOT NULL CHECK (gate_type IN ('unit_tests', 'integration_tests', 'e2e_tests',
                                     'security_scan', 'lint', 'custom')),
            state                TEXT NOT NULL CHECK (state IN ('pending', 'running', 'passed', 'failed', 'skipped', 'error')),
            project_id           TEXT,
            execution_request_id TEXT CHECK (execution_request_id IS NULL OR length(execution_request_id) = 26),
            criteria             TEXT NOT NULL CHECK (json_valid(criteria)),
            started_at           TEXT,
            completed_at         TEXT,
            duration_seconds     REAL CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
            command              TEXT,
            exit_code            INTEGER,
            results              TEXT CHECK (results IS NULL OR json_valid(results)),
            decision             TEXT CHECK (decision IS NULL OR json_valid(decision)),
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL,
            metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
        ) WITHOUT ROWID;
        CREATE INDEX test_gates_by_state ON test_gates (state, created_at);
        CREATE INDEX test_gates_by_project ON test_gates (project_id, created_at);

        CREATE TABLE costs (
            cost_id              TEXT PRIMARY KEY NOT NULL CHECK (length(cost_id) = 26),
            execution_request_id TEXT CHECK (execution_request_id IS NULL OR length(execution_request_id) = 26),
            project_id           TEXT CHECK (project_id IS NULL OR project_id <> ''),
            resource_type        TEXT NOT NULL CHECK (resource_type IN ('api_call', 'compute_time', 'storage', 'network',
                                     'tool_usage', 'custom')),
            resource_name        TEXT,
            amount_units         INTEGER NOT NULL CHECK (amount_units >= 0),
            currency             TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
            usage_quantity_units INTEGER,
            usage_unit           TEXT,
            usage_rate_units     INTEGER,
            recorded_at          TEXT NOT NULL,
            metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            CHECK ((usage_quantity_units IS NULL) = (usage_rate_units IS NULL))
        ) WITHOUT ROWID;
        CREATE INDEX costs_by_recorded ON costs (recorded_at, cost_id);
        CREATE INDEX costs_by_project ON costs (project_id, recorded_at);
        CREATE INDEX costs_by_request ON costs (execution_request_id, recorded_at);

        -- Exact running sums per (project, request, type, currency), kept by triggers in the same
        -- transaction as each insert or delete, so totals never scan the costs table.
        -- '' stands for "none" in the key columns.
        CREATE TABLE cost_rollups (
            project_key          TEXT NOT NULL,
            request_key          TEXT NOT NULL,
            resource_type        TEXT NOT NULL,
            currency             TEXT NOT NULL,
            total_units          INTEGER NOT NULL CHECK (total_units >= 0),
            record_count         INTEGER NOT NULL CHECK (record_count >= 0),
            PRIMARY KEY (project_key, request_key, resource_type, currency)
        ) WITHOUT ROWID;

        CREATE TRIGGER costs_rollup_insert AFTER INSERT ON costs BEGIN
            INSERT INTO cost_rollups (project_key, request_key, resource_type, currency, total_units, record_count)
            VALUES (coalesce(NEW.project_id, ''), coalesce(NEW.execution_request_id, ''), NEW.resource_type, NEW.currency,
                    NEW.amount_units, 1)
            ON CONFLICT (project_key, request_key, resource_type, currency) DO UPDATE
                SET total_units = total_units + excluded.total_units, record_count = record_count + 1;
        END;

        CREATE TRIGGER costs_rollup_delete AFTER DELETE ON costs BEGIN
            UPDATE cost_rollups
                SET total_units = total_units - OLD.amount_units, record_count = record_count - 1
                WHERE project_key = coalesce(OLD.project_id, '') AND request_key = coalesce(OLD.execution_request_id, '')
                  AND resource_type = OLD.resource_type AND currency = OLD.currency;
        END;

        CREATE TRIGGER costs_no_update BEFORE UPDATE ON costs BEGIN
            SELECT RAISE(ABORT, 'cost records are immutable: delete and record again');
        END;

        -- The append-only log of every transition of every component.
        CREATE TABLE events (
            -- Rows are never deleted (see the triggers below), so the rowid alone is monotonic.
            seq                  INTEGER PRIMARY KEY,
            entity_kind          TEXT NOT NULL CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost')),
            entity_id            TEXT NOT NULL,
            from_state           TEXT,
            to_state             TEXT,
            reason               TEXT,
            at                   TEXT NOT NULL,
            actor                TEXT NOT NULL,
            payload              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
        );
        CREATE INDEX events_by_entity ON events (entity_id, seq);

        CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN
            SELECT RAISE(ABORT, 'events are append-only');
        END;

        CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN
            SELECT RAISE(ABORT, 'events are append-only');
        END;

        """#
    )
}
