import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let taskColumns = ColumnSet([
        "task_id", "prompt", "project_id", "workstream_id", "phase", "execution_request_id", "priority", "agent",
        "branch", "state", "epoch", "attempts", "max_attempts", "worker_id", "created_at", "updated_at", "claimed_at",
        "finished_at", "ledger_id", "reason", "crashes", "metadata",
    ])
    static let selectTaskByID = "SELECT \(taskColumns.sql) FROM tasks WHERE task_id = ?"

    package func insertTask(_ task: TaskRecord, event: Event) throws {
        try insertTaskRow(task)
        try Self.append(event, db)
    }

    /// Stores the task's row alone.
    func insertTaskRow(_ task: TaskRecord) throws {
        try db.execute(
            sql: "INSERT INTO tasks (\(Self.taskColumns.sql)) VALUES (\(Self.taskColumns.placeholders))",
            arguments: try Self.taskArguments(task))
    }

    package func updateTask(_ id: TaskID, _ change: Change<TaskRecord>) throws -> TaskRecord {
        guard let current = try task(id) else { throw SluiceError.notFound("task", id.description) }
        return try updateTask(read: current, change)
    }

    package func updateTask(read current: TaskRecord, _ change: Change<TaskRecord>) throws -> TaskRecord {
        let id = current.taskID
        let (next, event) = try change(current)
        var arguments = try Self.taskArguments(next)
        arguments += [id.description, current.state.rawValue, current.epoch]
        try db.cachedStatement(
            sql: """
                UPDATE tasks SET \(Self.taskColumns.assignments) WHERE task_id = ? AND state = ? AND epoch = ?
                """
        ).execute(arguments: arguments)
        guard db.changesCount == 1 else {
            throw SluiceError(
                code: .lostRace, message: "cannot change task \(id): another writer changed it first",
                currentState: current.state.rawValue)
        }
        try Self.append(event, db)
        return next
    }

    package func nextTaskToClaim(projectID: String?, agent: String?, skipping: [TaskID]) throws -> TaskRecord? {
        var conditions = Conditions()
        conditions.equal("state", TaskState.queued.rawValue)
        conditions.equal("project_id", projectID)
        var arguments = conditions.statementArguments
        // A task that names an agent goes only to a worker running that agent.
        var agentTerm = ""
        if let agent {
            agentTerm = " AND (agent IS NULL OR agent = ?)"
            arguments += [agent]
        }
        if !skipping.isEmpty {
            agentTerm += " AND task_id NOT IN (\(skipping.map { _ in "?" }.joined(separator: ", ")))"
            arguments += StatementArguments(skipping.map(\.description))
        }
        return try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.taskColumns.sql) FROM tasks \(conditions.sql)\(agentTerm)
                    ORDER BY priority DESC, created_at, task_id LIMIT 1
                    """), arguments: arguments
        ).map(Self.decodeTask)
    }

    package func task(_ id: TaskID) throws -> TaskRecord? {
        try Row.fetchOne(db.cachedStatement(sql: Self.selectTaskByID), arguments: [id.description]).map(Self.decodeTask)
    }

    package func tasks(_ filter: TaskFilter) throws -> [TaskRecord] {
        try SluiceError.checkLimit(filter.limit)
        var conditions = Conditions()
        conditions.equal("state", filter.state?.rawValue)
        conditions.equal("project_id", filter.projectID)
        var arguments = conditions.statementArguments
        arguments += [filter.limit ?? -1]
        return try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT \(Self.taskColumns.sql) FROM tasks \(conditions.sql)
                    ORDER BY created_at DESC, task_id DESC LIMIT ?
                    """), arguments: arguments
        ).map(Self.decodeTask)
    }

    // MARK: - Mapping

    /// Arguments in ``taskColumns`` order.
    static func taskArguments(_ task: TaskRecord) throws -> StatementArguments {
        var values: [(any DatabaseValueConvertible)?] = []
        values += [task.taskID.description, task.prompt, task.projectID, task.workstreamID, task.phase]
        values += [task.executionRequestID.description, task.priority, task.agent, task.branch, task.state.rawValue]
        values += [task.epoch, task.attempts, task.maxAttempts, task.workerID?.description]
        values += [task.createdAt.description, task.updatedAt.description, task.claimedAt?.description]
        values += [task.finishedAt?.description, task.ledgerID?.description, task.reason]
        values += [try SluiceJSON.line(task.crashes), JSONValue.object(task.metadata).jsonText]
        return StatementArguments(values)
    }

    static func decodeTask(_ row: Row) throws -> TaskRecord {
        let row = RowReader(row, taskColumns)
        var task = TaskRecord(
            taskID: try Column.id(row, "task_id"),
            request: TaskRequest(
                prompt: try Column.string(row, "prompt"), projectID: try Column.string(row, "project_id"),
                workstreamID: row["workstream_id"], phase: row["phase"],
                executionRequestID: try Column.id(row, "execution_request_id"), priority: row["priority"],
                maxAttempts: row["max_attempts"], agent: row["agent"], branch: row["branch"],
                metadata: try Column.object(row, "metadata")),
            at: try Column.timestamp(row, "created_at"))
        task.state = try Column.enumeration(row, "state")
        task.epoch = row["epoch"]
        task.attempts = row["attempts"]
        task.workerID = try Column.optionalID(row, "worker_id")
        task.updatedAt = try Column.timestamp(row, "updated_at")
        task.claimedAt = try Column.optionalTimestamp(row, "claimed_at")
        task.finishedAt = try Column.optionalTimestamp(row, "finished_at")
        task.ledgerID = try Column.optionalID(row, "ledger_id")
        task.reason = row["reason"]
        task.crashes = try Column.json(row, "crashes", as: [TaskCrash].self)
        return task
    }
}
