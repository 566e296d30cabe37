// PostgreSQL migration 0005_tasks. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0005_tasks`: the task queue (SQLite's migration 0004), and `task` as a kind of
    /// entity in the event log.
    static let migration0005 = (
        name: "0005_tasks",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 5: tasks, the instructions agents are given. `epoch`
        -- is the fencing token of the current claim. A claim takes the queued task of highest
        -- priority, then the oldest, with FOR UPDATE SKIP LOCKED: two claimers never wait for, or
        -- take, the same row.

        CREATE TABLE tasks (
            task_id              sluice_ulid PRIMARY KEY,
            prompt               text NOT NULL CHECK (octet_length(prompt) BETWEEN 1 AND 1048576),
            project_id           text NOT NULL CHECK (length(project_id) BETWEEN 1 AND 200),
            workstream_id        text CHECK (workstream_id IS NULL OR length(workstream_id) BETWEEN 1 AND 200),
            phase                text CHECK (phase IS NULL OR length(phase) BETWEEN 1 AND 200),
            execution_request_id sluice_ulid NOT NULL,
            priority             bigint NOT NULL CHECK (priority BETWEEN -1000 AND 1000),
            agent                text CHECK (agent IS NULL OR length(agent) BETWEEN 1 AND 200),
            branch               text CHECK (branch IS NULL OR length(branch) BETWEEN 1 AND 200),
            state                text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            epoch                bigint NOT NULL CHECK (epoch >= 0),
            attempts             bigint NOT NULL CHECK (attempts >= 0),
            max_attempts         bigint NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
            worker_id            sluice_ulid,
            created_at           sluice_time NOT NULL,
            updated_at           sluice_time NOT NULL,
            claimed_at           sluice_time,
            finished_at          sluice_time,
            ledger_id            sluice_ulid,
            reason               text,
            crashes              json NOT NULL DEFAULT '[]',
            metadata             json NOT NULL DEFAULT '{}',
            CHECK (state <> 'running' OR (worker_id IS NOT NULL AND claimed_at IS NOT NULL AND epoch >= 1)),
            CHECK ((state IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
        );
        CREATE INDEX tasks_to_claim ON tasks (state, priority DESC, created_at, task_id);
        CREATE INDEX tasks_by_created ON tasks (created_at, task_id);

        ALTER TABLE events DROP CONSTRAINT events_entity_kind_check,
            ADD CONSTRAINT events_entity_kind_check
                CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost', 'task'));

        """#
    )
}
