// PostgreSQL migration 0001_initial, compiled in so that the binary needs no resource bundle.
// A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0001_initial`: the schema of SQLite's migrations 0001 to 0003, in PostgreSQL.
    static let migration0001 = (
        name: "0001_initial",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 1. The same records and rules as the SQLite schema
        -- (its migrations 0001 to 0003), enforced by the database here too.
        -- Timestamps are ISO 8601 UTC text of fixed width in the "C" collation, so text order is time
        -- order whatever the database's locale; ids are ULIDs, also "C". Money is bigint billionths of
        -- the currency unit, as in SQLite, so sums are exact (never a float).

        CREATE DOMAIN sluice_ulid AS text COLLATE "C" CHECK (VALUE ~ '^[0-9A-HJKMNP-TV-Z]{26}$');
        CREATE DOMAIN sluice_time AS text COLLATE "C"
            CHECK (VALUE ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$');

        CREATE TABLE workers (
            worker_id            sluice_ulid PRIMARY KEY,
            worker_type          text NOT NULL CHECK (worker_type IN ('executor', 'monitor', 'validator', 'scheduler', 'custom')),
            state                text NOT NULL CHECK (state IN ('idle', 'busy', 'paused', 'stopped', 'crashed')),
            current_task_id      text,
            started_at           sluice_time NOT NULL,
            last_heartbeat       sluice_time NOT NULL,
            -- The lease, on the database's clock; staleness is judged against it alone.
            lease_renewed_at     timestamptz NOT NULL,
            stopped_at           sluice_time,
            crashed_at           sluice_time,
            crash_error_message  text,
            crash_stack_trace    text,
            tasks_completed      bigint NOT NULL DEFAULT 0 CHECK (tasks_completed >= 0),
            tasks_failed         bigint NOT NULL DEFAULT 0 CHECK (tasks_failed >= 0),
            total_execution_time double precision NOT NULL DEFAULT 0 CHECK (total_execution_time >= 0),
            max_parallel_tasks   bigint NOT NULL CHECK (max_parallel_tasks >= 1),
            heartbeat_interval   bigint NOT NULL CHECK (heartbeat_interval >= 1),
            timeout_seconds      bigint NOT NULL CHECK (timeout_seconds >= 1),
            metadata             json NOT NULL DEFAULT '{}',
            CHECK ((state = 'busy') = (current_task_id IS NOT NULL) OR state = 'paused')
        );
        CREATE INDEX workers_by_state ON workers (state, started_at);
        CREATE INDEX workers_by_type ON workers (worker_type, started_at);

        CREATE TABLE patch_ledger (
            ledger_id            sluice_ulid PRIMARY KEY,
            patch_id             sluice_ulid NOT NULL UNIQUE,
            project_id           text NOT NULL CHECK (project_id <> ''),
            phase_id             text,
            workstream_id        text,
            execution_request_id sluice_ulid,
            state                text NOT NULL CHECK (state IN ('created', 'validated', 'queued', 'applied', 'apply_failed',
                                     'verified', 'committed', 'rolled_back', 'quarantined', 'dropped')),
            format_ok            boolean NOT NULL DEFAULT false,
            scope_ok             boolean NOT NULL DEFAULT false,
            constraints_ok       boolean NOT NULL DEFAULT false,
            tests_ran            boolean NOT NULL DEFAULT false,
            tests_passed         boolean NOT NULL DEFAULT false,
            validation_errors    json NOT NULL DEFAULT '[]',
            apply_attempts       bigint NOT NULL DEFAULT 0 CHECK (apply_attempts >= 0),
            last_attempt_at      sluice_time,
            last_error_code      text,
            last_error_message   text,
            workspace_path       text,
            applied_files        json NOT NULL DEFAULT '[]',
            is_quarantined       boolean NOT NULL DEFAULT false,
            quarantine_reason    text,
            quarantine_path      text,
            quarantined_at       sluice_time,
            replaces_patch_id    sluice_ulid,
            rollback_of_patch_id sluice_ulid,
            chain_id             text,
            created_at           sluice_time NOT NULL,
            updated_at           sluice_time NOT NULL
        );
        CREATE INDEX patch_ledger_by_project ON patch_ledger (project_id, created_at);
        CREATE INDEX patch_ledger_by_state ON patch_ledger (state, created_at);
        CREATE INDEX patch_ledger_by_workstream ON patch_ledger (workstream_id, created_at);
        CREATE INDEX patch_ledger_by_created ON patch_ledger (created_at, ledger_id);

        CREATE TABLE test_gates (
            gate_id              sluice_ulid PRIMARY KEY,
            name                 text NOT NULL CHECK (name <> ''),
            gate_type            text NOT NULL CHECK (gate_type IN ('unit_tests', 'integration_tests', 'e2e_tests',
                                     'security_scan', 'lint', 'custom')),
            state                text NOT NULL CHECK (state IN ('pending', 'running', 'passed', 'failed', 'skipped', 'error')),
            project_id           text,
            execution_request_id sluice_ulid,
            criteria             json NOT NULL,
            started_at           sluice_time,
            completed_at         sluice_time,
            duration_seconds     double precision CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
            command              text,
            exit_code            bigint,
            results              json,
            decision             json,
            created_at           sluice_time NOT NULL,
            updated_at           sluice_time NOT NULL,
            metadata             json NOT NULL DEFAULT '{}'
        );
        CREATE INDEX test_gates_by_state ON test_gates (state, created_at);
        CREATE INDEX test_gates_by_project ON test_gates (project_id, created_at);

        CREATE TABLE costs (
            cost_id              sluice_ulid PRIMARY KEY,
            execution_request_id sluice_ulid,
            project_id           text CHECK (project_id IS NULL OR project_id <> ''),
            resource_type        text NOT NULL CHECK (resource_type IN ('api_call', 'compute_time', 'storage', 'network',
                                     'tool_usage', 'custom')),
            resource_name        text,
            amount_units         bigint NOT NULL CHECK (amount_units >= 0),
            currency             text COLLATE "C" NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            usage_quantity_units bigint,
            usage_unit           text,
            usage_rate_units     bigint,
            recorded_at          sluice_time NOT NULL,
            metadata             json NOT NULL DEFAULT '{}',
            CHECK ((usage_quantity_units IS NULL) = (usage_rate_units IS NULL))
        );
        CREATE INDEX costs_by_recorded ON costs (recorded_at, cost_id);
        CREATE INDEX costs_by_project ON costs (project_id, recorded_at);
        CREATE INDEX costs_by_request ON costs (execution_request_id, recorded_at);

        -- Exact running sums per (project, request, type, currency), kept by triggers in the same
        -- transaction as each insert or delete, so totals never scan the costs table.
        -- '' stands for "none" in the key columns. A sum past bigint fails the statement (never rounds).
        CREATE TABLE cost_rollups (
            project_key          text COLLATE "C" NOT NULL,
            request_key          text COLLATE "C" NOT NULL,
            resource_type        text COLLATE "C" NOT NULL,
            currency             text COLLATE "C" NOT NULL,
            total_units          bigint NOT NULL CHECK (total_units >= 0),
            record_count         bigint NOT NULL CHECK (record_count >= 0),
            PRIMARY KEY (project_key, request_key, resource_type, currency)
        );
        CREATE INDEX cost_rollups_by_currency ON cost_rollups (currency);

        CREATE FUNCTION sluice_costs_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO cost_rollups (project_key, request_key, resource_type, currency, total_units, record_count)
                VALUES (coalesce(NEW.project_id, ''), coalesce(NEW.execution_request_id, ''), NEW.resource_type,
                        NEW.currency, NEW.amount_units, 1)
                ON CONFLICT (project_key, request_key, resource_type, currency) DO UPDATE
                    SET total_units = cost_rollups.total_units + excluded.total_units,
                        record_count = cost_rollups.record_count + 1;
                RETURN NEW;
            END IF;
            UPDATE cost_rollups
                SET total_units = total_units - OLD.amount_units, record_count = record_count - 1
                WHERE project_key = coalesce(OLD.project_id, '') AND request_key = coalesce(OLD.execution_request_id, '')
                  AND resource_type = OLD.resource_type AND currency = OLD.currency;
            RETURN OLD;
        END
        $$;
        CREATE TRIGGER costs_rollup AFTER INSERT OR DELETE ON costs
            FOR EACH ROW EXECUTE FUNCTION sluice_costs_rollup();

        CREATE FUNCTION sluice_refuse(message text) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%', message USING ERRCODE = 'restrict_violation';
        END
        $$;

        CREATE FUNCTION sluice_costs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM sluice_refuse('cost records are immutable: delete and record again');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER costs_no_update BEFORE UPDATE ON costs
            FOR EACH ROW EXECUTE FUNCTION sluice_costs_immutable();

        -- The append-only log of every transition of every component.
        --
        -- The log is a cursor that never skips: a reader of "seq > N" must never see seq S while a
        -- lower seq can still commit. Sequences handed out by concurrent transactions commit out of
        -- order, so seq is not a default: the trigger below first takes a transaction-level advisory
        -- lock, then draws the next value. The lock is held until the writer's transaction ends, and
        -- PostgreSQL releases a transaction's locks only after its commit is visible to every new
        -- snapshot. So a writer draws its first seq only once every earlier writer of events has
        -- committed and become visible (or rolled back, leaving a gap that is never filled): seq order
        -- is commit order, and every snapshot sees a prefix of the log (plus gaps that stay gaps).
        -- The storage inserts a unit's events last, just before COMMIT, so the lock is held only for
        -- those inserts and the commit, and is the last lock the transaction takes (no deadlock).
        CREATE SEQUENCE events_seq AS bigint;
        CREATE TABLE events (
            seq                  bigint PRIMARY KEY,
            entity_kind          text NOT NULL CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost')),
            entity_id            text COLLATE "C" NOT NULL,
            from_state           text,
            to_state             text,
            reason               text,
            at                   sluice_time NOT NULL,
            actor                text NOT NULL,
            payload              json NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_entity ON events (entity_id, seq);

        CREATE FUNCTION sluice_events_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- 8317151707346042881 = 0x736C756963650001 ('sluice', 1): the event log's lock.
            PERFORM pg_advisory_xact_lock(8317151707346042881);
            NEW.seq := nextval('events_seq');
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER events_sequence BEFORE INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION sluice_events_sequence();

        CREATE FUNCTION sluice_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM sluice_refuse('events are append-only');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION sluice_events_append_only();
        CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
            FOR EACH STATEMENT EXECUTE FUNCTION sluice_events_append_only();

        -- The diffs themselves, content-addressed, and what the landing pipeline needs to resume.
        CREATE TABLE patch_contents (
            sha256               text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
            bytes                bytea NOT NULL,
            size                 bigint NOT NULL CHECK (size >= 0)
        );

        CREATE FUNCTION sluice_patch_contents_kept() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM sluice_refuse('patch contents are immutable and never deleted');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER patch_contents_kept BEFORE UPDATE OR DELETE ON patch_contents
            FOR EACH ROW EXECUTE FUNCTION sluice_patch_contents_kept();
        CREATE TRIGGER patch_contents_no_truncate BEFORE TRUNCATE ON patch_contents
            FOR EACH STATEMENT EXECUTE FUNCTION sluice_patch_contents_kept();

        CREATE TABLE patch_sources (
            ledger_id            sluice_ulid PRIMARY KEY REFERENCES patch_ledger (ledger_id),
            sha256               text COLLATE "C" NOT NULL REFERENCES patch_contents (sha256),
            message              text,
            base_commit          text,
            tested_commit        text,
            landed_commit        text,
            made_on              text CHECK (made_on IS NULL OR length(made_on) BETWEEN 40 AND 64),
            author               text CHECK (author IS NULL OR length(author) BETWEEN 3 AND 1024)
        );
        CREATE INDEX patch_sources_by_content ON patch_sources (sha256);

        """#
    )
}
