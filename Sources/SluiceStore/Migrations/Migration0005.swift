// Migration 0005_budgets. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0005_budgets`: budgets, what each window of one spent and holds, the holds of
    /// running attempts, and `budget` as a kind of entity in the event log.
    static let migration0005 = (
        name: "0005_budgets",
        sql: #"""
        -- Sluice schema, version 5: budgets. A budget limits spend in one currency over a scope
        -- (global, project:NAME, workstream:NAME, task:ID, worker:ID, request:ID) and a window (none,
        -- day, week, month in its time zone). Each window of a budget has its own row of spend, keyed
        -- by the window (`2026-11`): a new window starts from nothing, with no job zeroing a counter.
        -- Money is integer billionths, as in costs.

        CREATE TABLE budgets (
            scope                TEXT PRIMARY KEY NOT NULL CHECK (length(scope) BETWEEN 1 AND 240),
            limit_units          INTEGER NOT NULL CHECK (limit_units > 0),
            currency             TEXT NOT NULL CHECK (length(currency) = 3 AND currency GLOB '[A-Z][A-Z][A-Z]'),
            time_window          TEXT NOT NULL CHECK (time_window IN ('none', 'day', 'week', 'month')),
            timezone             TEXT NOT NULL CHECK (length(timezone) BETWEEN 1 AND 100),
            soft                 TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(soft)),
            hard                 INTEGER NOT NULL CHECK (hard IN (0, 1)),
            created_at           TEXT NOT NULL,
            updated_at           TEXT NOT NULL
        ) WITHOUT ROWID;

        -- Committed: costs recorded. Held: estimates of attempts in flight, used up by their costs.
        CREATE TABLE budget_spend (
            scope                TEXT NOT NULL,
            window_key           TEXT NOT NULL,
            committed_units      INTEGER NOT NULL DEFAULT 0 CHECK (committed_units >= 0),
            held_units           INTEGER NOT NULL DEFAULT 0 CHECK (held_units >= 0),
            soft_fired           INTEGER NOT NULL DEFAULT 0 CHECK (soft_fired BETWEEN 0 AND 100),
            PRIMARY KEY (scope, window_key)
        ) WITHOUT ROWID;

        -- The hold of one claim (a task at an epoch): what is still held on each budget's window.
        CREATE TABLE budget_holds (
            task_id              TEXT NOT NULL CHECK (length(task_id) = 26),
            epoch                INTEGER NOT NULL CHECK (epoch >= 1),
            worker_id            TEXT NOT NULL CHECK (length(worker_id) = 26),
            estimate_units       INTEGER NOT NULL CHECK (estimate_units >= 0),
            currency             TEXT NOT NULL CHECK (length(currency) = 3),
            parts                TEXT NOT NULL CHECK (json_valid(parts)),
            created_at           TEXT NOT NULL,
            PRIMARY KEY (task_id, epoch)
        ) WITHOUT ROWID;

        -- The event log takes budget events: the table is rebuilt with its rows, numbers, index and
        -- append-only triggers, as in 0004.
        CREATE TABLE events_with_budgets (
            seq                  INTEGER PRIMARY KEY,
            entity_kind          TEXT NOT NULL
                CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost', 'task', 'budget')),
            entity_id            TEXT NOT NULL,
            from_state           TEXT,
            to_state             TEXT,
            reason               TEXT,
            at                   TEXT NOT NULL,
            actor                TEXT NOT NULL,
            payload              TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
        );
        INSERT INTO events_with_budgets (seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
            SELECT seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_with_budgets RENAME TO events;
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
