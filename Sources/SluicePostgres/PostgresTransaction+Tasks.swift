import SluiceCore
import SluiceStore

extension PostgresTransaction {
    /// The task columns, in the order they are bound (INSERT and UPDATE alike) and selected.
    static let taskColumns = [
        "task_id", "prompt", "project_id", "workstream_id", "phase", "execution_request_id", "priority", "agent",
        "branch", "state", "epoch", "attempts", "max_attempts", "worker_id", "created_at", "updated_at", "claimed_at",
        "finished_at", "ledger_id", "reason", "crashes", "metadata",
    ]
    static let taskSelect = "SELECT \(taskColumns.joined(separator: ", ")) FROM tasks"
    static let taskInsert = insertStatement("tasks", columns: taskColumns)
    /// The compare-and-set on the state and the epoch read.
    static let taskUpdate =
        "UPDATE tasks SET "
        + taskColumns.enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: ", ")
        + " WHERE task_id = $\(taskColumns.count + 1) AND state = $\(taskColumns.count + 2)"
        + " AND epoch = $\(taskColumns.count + 3)"

    func insertTask(_ task: TaskRecord, event: Event) throws {
        try insertTaskRow(task)
        pendingEvents.append(event)
    }

    /// Stores the task's row alone.
    func insertTaskRow(_ task: TaskRecord) throws {
        var binds = Binds()
        try Self.bindTask(task, &binds)
        try execute(Self.taskInsert, binds)
    }

    func updateTask(_ id: TaskID, _ change: Change<TaskRecord>) throws -> TaskRecord {
        guard let current = try task(id) else { throw SluiceError.notFound("task", id.description) }
        return try updateTask(read: current, change)
    }

    func updateTask(read current: TaskRecord, _ change: Change<TaskRecord>) throws -> TaskRecord {
        let id = current.taskID
        let (next, event) = try change(current)
        var binds = Binds()
        try Self.bindTask(next, &binds)
        binds.add(id)
        binds.add(current.state.rawValue)
        binds.add(current.epoch)
        // In READ COMMITTED, an UPDATE that meets a row another transaction changed waits for it and
        // tests its WHERE again on the committed row: a moved state or epoch matches nothing.
        guard try execute(Self.taskUpdate, binds) == 1 else {
            let now = try task(id)
            throw SluiceError(
                code: .lostRace,
                message: "cannot change task \(id): another writer changed it first (it is now "
                    + "\(now.map { "\($0.state.rawValue) at epoch \($0.epoch)" } ?? "gone"))",
                currentState: now?.state.rawValue)
        }
        pendingEvents.append(event)
        return next
    }

    func nextTaskToClaim(projectID: String?, agent: String?, skipping: [TaskID]) throws -> TaskRecord? {
        var binds = Binds()
        var filter = "state = 'queued'"
        if let projectID {
            binds.add(projectID)
            filter += " AND project_id = $\(binds.count)"
        }
        // A task that names an agent goes only to a worker running that agent.
        if let agent {
            binds.add(agent)
            filter += " AND (agent IS NULL OR agent = $\(binds.count))"
        }
        for id in skipping {
            binds.add(id)
            filter += " AND task_id <> $\(binds.count)"
        }
        return try rows(
            """
            \(Self.taskSelect) WHERE \(filter)
            ORDER BY priority DESC, created_at, task_id LIMIT 1 FOR UPDATE SKIP LOCKED
            """, binds, Self.decodeTask
        ).first
    }

    func task(_ id: TaskID) throws -> TaskRecord? {
        var binds = Binds()
        binds.add(id)
        return try rows("\(Self.taskSelect) WHERE task_id = $1", binds, Self.decodeTask).first
    }

    func tasks(_ filter: TaskFilter) throws -> [TaskRecord] {
        try SluiceError.checkLimit(filter.limit)
        var binds = Binds()
        var terms: [String] = []
        if let state = filter.state {
            binds.add(state.rawValue)
            terms.append("state = $\(binds.count)")
        }
        if let project = filter.projectID {
            binds.add(project)
            terms.append("project_id = $\(binds.count)")
        }
        let conditions = terms.isEmpty ? "" : " WHERE " + terms.joined(separator: " AND ")
        var limit = ""
        if let count = filter.limit {
            binds.add(count)
            limit = " LIMIT $\(binds.count)"
        }
        return try rows(
            "\(Self.taskSelect)\(conditions) ORDER BY created_at DESC, task_id DESC\(limit)", binds, Self.decodeTask)
    }

    // MARK: - Mapping

    /// Binds `taskColumns`, in order.
    static func bindTask(_ task: TaskRecord, _ binds: inout Binds) throws {
        binds.add(task.taskID)
        binds.add(task.prompt)
        binds.add(task.projectID)
        binds.add(task.workstreamID)
        binds.add(task.phase)
        binds.add(task.executionRequestID)
        binds.add(task.priority)
        binds.add(task.agent)
        binds.add(task.branch)
        binds.add(task.state.rawValue)
        binds.add(task.epoch)
        binds.add(task.attempts)
        binds.add(task.maxAttempts)
        binds.add(task.workerID)
        binds.add(task.createdAt)
        binds.add(task.updatedAt)
        binds.add(task.claimedAt)
        binds.add(task.finishedAt)
        binds.add(task.ledgerID)
        binds.add(task.reason)
        binds.add(json: try SluiceJSON.line(task.crashes))
        binds.add(json: JSONValue.object(task.metadata).jsonText)
    }

    static func decodeTask(_ row: inout Cells) throws -> TaskRecord {
        let id: TaskID = try row.id()
        let prompt = try row.string()
        let project = try row.string()
        let workstream = try row.text()
        let phase = try row.text()
        let request: ExecutionRequestID = try row.id()
        let priority = try row.int()
        let agent = try row.text()
        let branch = try row.text()
        let state: TaskState = try row.enumeration()
        let epoch = try row.int64()
        let attempts = try row.int()
        let maxAttempts = try row.int()
        let worker: WorkerID? = try row.optionalID()
        let createdAt = try row.timestamp()
        let updatedAt = try row.timestamp()
        let claimedAt = try row.optionalTimestamp()
        let finishedAt = try row.optionalTimestamp()
        let ledger: LedgerID? = try row.optionalID()
        let reason = try row.text()
        let crashes = try row.json([TaskCrash].self)
        let metadata = try row.object()
        var task = TaskRecord(
            taskID: id,
            request: TaskRequest(
                prompt: prompt, projectID: project, workstreamID: workstream, phase: phase,
                executionRequestID: request, priority: priority, maxAttempts: maxAttempts, agent: agent,
                branch: branch, metadata: metadata),
            at: createdAt)
        task.state = state
        task.epoch = epoch
        task.attempts = attempts
        task.workerID = worker
        task.updatedAt = updatedAt
        task.claimedAt = claimedAt
        task.finishedAt = finishedAt
        task.ledgerID = ledger
        task.reason = reason
        task.crashes = crashes
        return task
    }
}
