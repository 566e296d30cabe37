import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let workerColumns = ColumnSet([
        "worker_id", "worker_type", "state", "current_task_id", "started_at", "last_heartbeat", "lease_renewed_at",
        "stopped_at", "crashed_at", "crash_error_message", "crash_stack_trace", "tasks_completed", "tasks_failed",
        "total_execution_time", "max_parallel_tasks", "heartbeat_interval", "timeout_seconds", "metadata",
    ])
    static let selectWorkerByID = "SELECT \(workerColumns.sql) FROM workers WHERE worker_id = ?"

    package func insertWorker(_ worker: WorkerRecord, event: Event) throws {
        try insertWorkerRow(worker)
        try Self.append(event, db)
    }

    /// Stores the worker's row alone, its lease starting now on the database's clock.
    func insertWorkerRow(_ worker: WorkerRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO workers (worker_id, worker_type, state, current_task_id, started_at, last_heartbeat,
                    lease_renewed_at, stopped_at, crashed_at, crash_error_message, crash_stack_trace,
                    tasks_completed, tasks_failed, total_execution_time, max_parallel_tasks, heartbeat_interval,
                    timeout_seconds, metadata)
                VALUES (?, ?, ?, ?, ?, ?, sluice_db_now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [worker.workerID.description] + Self.workerArguments(worker))
    }

    package func updateWorker(_ id: WorkerID, _ change: Change<WorkerRecord>) throws -> WorkerRecord {
        try transition(
            id: id.description, noun: "worker",
            load: { db in
                try Row.fetchOne(db.cachedStatement(sql: Self.selectWorkerByID), arguments: [id.description]).map(
                    Self.decodeWorker)
            },
            state: { $0.state.rawValue },
            write: { db, worker, expected in
                var arguments = Self.workerArguments(worker)
                arguments += [worker.workerID.description, expected]
                try db.cachedStatement(
                    sql: """
                        UPDATE workers SET worker_type = ?, state = ?, current_task_id = ?, started_at = ?,
                            last_heartbeat = ?, stopped_at = ?, crashed_at = ?, crash_error_message = ?,
                            crash_stack_trace = ?, tasks_completed = ?, tasks_failed = ?, total_execution_time = ?,
                            max_parallel_tasks = ?, heartbeat_interval = ?, timeout_seconds = ?, metadata = ?
                        WHERE worker_id = ? AND state = ?
                        """
                ).execute(arguments: arguments)
            }, change: change)
    }

    package func renewLease(_ id: WorkerID, at: Timestamp, event: Event) throws -> WorkerRecord {
        try db.cachedStatement(
            sql: """
                UPDATE workers SET last_heartbeat = ?, lease_renewed_at = sluice_db_now()
                WHERE worker_id = ? AND state NOT IN ('stopped', 'crashed')
                """
        ).execute(arguments: [at.description, id.description])
        let renewed = db.changesCount
        let select = try db.cachedStatement(sql: Self.selectWorkerByID)
        guard let row = try Row.fetchOne(select, arguments: [id.description]) else {
            throw SluiceError.notFound("worker", id.description)
        }
        let worker = try Self.decodeWorker(row)
        guard renewed == 1 else {
            throw SluiceError.invalidTransition(
                "heartbeat", "worker", id.description, from: worker.state.rawValue,
                needs: ["idle", "busy", "paused"])
        }
        try Self.append(event, db)
        return worker
    }

    package func worker(_ id: WorkerID) throws -> WorkerRecord? {
        try Row.fetchOne(db.cachedStatement(sql: Self.selectWorkerByID), arguments: [id.description])
            .map(Self.decodeWorker)
    }

    package func workers(state: WorkerState?, type: WorkerType?) throws -> [WorkerRecord] {
        var conditions = Conditions()
        conditions.equal("state", state?.rawValue)
        conditions.equal("worker_type", type?.rawValue)
        return try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT \(Self.workerColumns.sql) FROM workers \(conditions.sql) ORDER BY started_at DESC, worker_id DESC"
            ), arguments: conditions.statementArguments
        ).map(Self.decodeWorker)
    }

    package func staleWorkers(olderThan seconds: Double) throws -> [WorkerRecord] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.workerColumns.sql) FROM workers
                    WHERE state NOT IN ('stopped', 'crashed') AND lease_renewed_at < sluice_db_now() - ?
                    ORDER BY lease_renewed_at, worker_id
                    """), arguments: [seconds]
        ).map(Self.decodeWorker)
    }

    // MARK: - Mapping

    /// Arguments in the column order shared by the INSERT (after the id) and the UPDATE.
    static func workerArguments(_ worker: WorkerRecord) -> StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = []
        values += [worker.workerType.rawValue, worker.state.rawValue, worker.currentTaskID]
        values += [worker.startedAt.description, worker.lastHeartbeat.description]
        values += [worker.stoppedAt?.description, worker.crashInfo?.crashedAt.description]
        values += [worker.crashInfo?.errorMessage, worker.crashInfo?.stackTrace]
        values += [worker.statistics.tasksCompleted, worker.statistics.tasksFailed]
        values += [worker.statistics.totalExecutionTime, worker.config.maxParallelTasks]
        values += [worker.config.heartbeatInterval, worker.config.timeoutSeconds]
        values += [JSONValue.object(worker.metadata).jsonText]
        return StatementArguments(values)
    }

    static func decodeWorker(_ row: Row) throws -> WorkerRecord {
        let row = RowReader(row, workerColumns)
        var worker = WorkerRecord(
            workerID: try Column.id(row, "worker_id"), workerType: try Column.enumeration(row, "worker_type"),
            config: WorkerConfig(
                maxParallelTasks: row["max_parallel_tasks"], heartbeatInterval: row["heartbeat_interval"],
                timeoutSeconds: row["timeout_seconds"]),
            metadata: try Column.object(row, "metadata"),
            at: try Column.timestamp(row, "started_at"))
        worker.state = try Column.enumeration(row, "state")
        worker.currentTaskID = row["current_task_id"]
        worker.lastHeartbeat = try Column.timestamp(row, "last_heartbeat")
        worker.stoppedAt = try Column.optionalTimestamp(row, "stopped_at")
        if let crashedAt = try Column.optionalTimestamp(row, "crashed_at") {
            worker.crashInfo = CrashInfo(
                crashedAt: crashedAt, errorMessage: row["crash_error_message"] ?? "",
                stackTrace: row["crash_stack_trace"])
        }
        worker.statistics = WorkerStatistics(
            tasksCompleted: row["tasks_completed"], tasksFailed: row["tasks_failed"],
            totalExecutionTime: row["total_execution_time"])
        return worker
    }
}

extension SQLiteTransaction {
    package func stateCounts() throws -> StateCounts {
        func counts(_ table: String) throws -> [String: Int] {
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT state, COUNT(*) AS n FROM \(table) GROUP BY state"))
            {
                counts[row["state"] ?? ""] = row["n"]
            }
            return counts
        }
        return StateCounts(
            tasks: try counts("tasks"), patches: try counts("patch_ledger"), workers: try counts("workers"))
    }
}
