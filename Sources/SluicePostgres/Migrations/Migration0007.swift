// PostgreSQL migration 0007_budgets. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0007_budgets`: budgets, their windows' spend and the holds of running attempts
    /// (SQLite's migration 0005), and `budget` as a kind of entity in the event log.
    static let migration0007 = (
        name: "0007_budgets",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 7: budgets. Each window of a budget has its own row of
        -- spend, keyed by the window ('2026-11'). A hold is one INSERT … ON CONFLICT DO UPDATE … WHERE
        -- committed + held + estimate <= limit: the row is locked and the condition tested on its
        -- newest version, so concurrent holds never pass a limit together.

        CREATE TABLE budgets (
            scope                text COLLATE "C" PRIMARY KEY CHECK (length(scope) BETWEEN 1 AND 240),
            limit_units          bigint NOT NULL CHECK (limit_units > 0),
            currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            time_window          text NOT NULL CHECK (time_window IN ('none', 'day', 'week', 'month')),
            timezone             text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 100),
            soft                 json NOT NULL DEFAULT '[]',
            hard                 boolean NOT NULL,
            created_at           sluice_time NOT NULL,
            updated_at           sluice_time NOT NULL
        );

        CREATE TABLE budget_spend (
            scope                text COLLATE "C" NOT NULL,
            window_key           text COLLATE "C" NOT NULL,
            committed_units      bigint NOT NULL DEFAULT 0 CHECK (committed_units >= 0),
            held_units           bigint NOT NULL DEFAULT 0 CHECK (held_units >= 0),
            soft_fired           bigint NOT NULL DEFAULT 0 CHECK (soft_fired BETWEEN 0 AND 100),
            PRIMARY KEY (scope, window_key)
        );

        CREATE TABLE budget_holds (
            task_id              sluice_ulid NOT NULL,
            epoch                bigint NOT NULL CHECK (epoch >= 1),
            worker_id            sluice_ulid NOT NULL,
            estimate_units       bigint NOT NULL CHECK (estimate_units >= 0),
            currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
            parts                json NOT NULL,
            created_at           sluice_time NOT NULL,
            PRIMARY KEY (task_id, epoch)
        );

        ALTER TABLE events DROP CONSTRAINT events_entity_kind_check,
            ADD CONSTRAINT events_entity_kind_check
                CHECK (entity_kind IN ('worker', 'patch', 'gate', 'cost', 'task', 'budget'));

        """#
    )
}
