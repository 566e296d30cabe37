// Migration 0004_tasks. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0004_tasks`: the task queue, and `task` as a kind of entity in the event log.
    static let migration0004 = (
        name: "0004_tasks",
        sql: #"""
        -- Sluice schema, version 4: tasks, the instructions agents are given. `epoch` is the fencing
        -- token of the current claim; the next task to claim is the queued one of highest priority,
        -- then the oldest.

        CREATE TABLE tasks (
            task_id              TEXT PRIMARY KEY NOT NULL CHECK (length(task_id) = 26),
            prompt               TEXT NOT NULL CHECK (length(CAST(prompt AS BLOB)) BETWEEN 1 AND 1048576),
            project_id           TEXT NOT NULL CHECK (length(project_id) BETWEEN 1 AND 200),
            workstream_id        TEXT CHECK (workstream_id IS NULL OR length(workstream_id) BETWEEN 1 AND 200),
            phase                TEXT CHECK (phase IS NULL OR length(phase) BETWEEN 1 AND 200),
            execution_request_id TEXT NOT NULL CHECK (length(execution_request_id) = 26),
            priority             INTEGER NOT NULL CHECK (priority BETWEEN -1000 AND 1000),
            agent                TEXT CHECK (agent IS NULL OR length(agent) BETWEEN 1 AND 200),
            branch               TEXT CHECK (branch IS NULL OR length(branch) BETWEEN 1 AND 200),
            state                TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            epoch                INTEGER NOT NULL CHECK (epoch >= 0),
            attempts             INTEGER NOT NULL CHECK (attempts >= 0),
            max_attempts         INTEGER NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
            worker_id            TEXT CHECK (worker_id IS NULL OR length(worker_id) = 26),
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL,
            claimed_at           TEXT,
            finished_at          TEXT,
            ledger_id            TEXT CHECK (ledger_id IS NULL OR length(ledger_id) = 26),
            reason               TEXT,
            crashes              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(crashes)),
            metadata             TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
            CHECK ((state = 'running') <= (worker_id IS NOT NULL AND claimed_at IS NOT NULL AND epoch >= 1)),
            CHECK ((state IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
        ) WITHOUT ROWID;
        -- The claim order: priority (highest first), then age.
        CREATE INDEX tasks_to_claim ON tasks (state, priority DESC, created_at, task_id);
        CREATE INDEX tasks_by_created ON tasks (created_at, task_id);

        -- The event log takes task events: SQLite cannot change a CHECK in place, so the table is
        -- rebuilt with its rows, numbers, index and append-only triggers.
        CREATE TABLE events_with_tasks (
            seq                  INTEGER PRIMARY KEY,
            entity_kind          TEXT NOT NULL CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost', 'task')),
            entity_id            TEXT NOT NULL,
            from_state           TEXT,
            to_state             TEXT,
            reason               TEXT,
            at                   TEXT NOT NULL,
            actor                TEXT NOT NULL,
            payload              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
        );
        INSERT INTO events_with_tasks (seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
            SELECT seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_with_tasks RENAME TO events;
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
