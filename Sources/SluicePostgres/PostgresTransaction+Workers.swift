import SluiceCore
import SluiceStore

extension PostgresTransaction {
    /// The worker columns after `worker_id`, in the order they are bound (INSERT and UPDATE alike).
    static let workerColumns = [
        "worker_type", "state", "current_task_id", "started_at", "last_heartbeat", "stopped_at", "crashed_at",
        "crash_error_message", "crash_stack_trace", "tasks_completed", "tasks_failed", "total_execution_time",
        "max_parallel_tasks", "heartbeat_interval", "timeout_seconds", "metadata",
    ]
    static let workerSelect = "SELECT worker_id, \(workerColumns.joined(separator: ", ")) FROM workers"

    static let workerInsert = insertStatement(
        "workers", columns: ["worker_id"] + workerColumns, extra: (column: "lease_renewed_at", sql: "%NOW%"))
    static let workerUpdate = compareAndSetStatement("workers", key: "worker_id", columns: workerColumns)

    func insertWorker(_ worker: WorkerRecord, event: Event) throws {
        try insertWorkerRow(worker)
        pendingEvents.append(event)
    }

    /// Stores the worker's row alone, its lease starting now on the database's clock.
    func insertWorkerRow(_ worker: WorkerRecord) throws {
        var binds = Binds()
        binds.add(worker.workerID)
        Self.bindWorker(worker, &binds)
        try execute(Self.workerInsert.replacingOccurrences(of: "%NOW%", with: databaseNow), binds)
    }

    func updateWorker(_ id: WorkerID, _ change: Change<WorkerRecord>) throws -> WorkerRecord {
        try transition(
            id: id.description, noun: "worker", table: "workers", key: "worker_id",
            load: { try worker(id) }, state: { $0.state.rawValue },
            write: { worker, expected in
                var binds = Binds()
                Self.bindWorker(worker, &binds)
                binds.add(worker.workerID)
                binds.add(expected)
                return try execute(Self.workerUpdate, binds)
            }, change: change)
    }

    func renewLease(_ id: WorkerID, at: Timestamp, event: Event) throws -> WorkerRecord {
        var binds = Binds()
        binds.add(at)
        binds.add(id)
        let renewed = try execute(
            """
            UPDATE workers SET last_heartbeat = $1, lease_renewed_at = \(databaseNow)
            WHERE worker_id = $2 AND state NOT IN ('stopped', 'crashed')
            """, binds)
        guard let worker = try worker(id) else { throw SluiceError.notFound("worker", id.description) }
        guard renewed == 1 else {
            throw SluiceError.invalidTransition(
                "heartbeat", "worker", id.description, from: worker.state.rawValue,
                needs: ["idle", "busy", "paused"])
        }
        pendingEvents.append(event)
        return worker
    }

    func worker(_ id: WorkerID) throws -> WorkerRecord? {
        var binds = Binds()
        binds.add(id)
        return try rows("\(Self.workerSelect) WHERE worker_id = $1", binds, Self.decodeWorker).first
    }

    func workers(state: WorkerState?, type: WorkerType?) throws -> [WorkerRecord] {
        var binds = Binds()
        var terms: [String] = []
        if let state {
            binds.add(state.rawValue)
            terms.append("state = $\(binds.count)")
        }
        if let type {
            binds.add(type.rawValue)
            terms.append("worker_type = $\(binds.count)")
        }
        let filter = terms.isEmpty ? "" : " WHERE " + terms.joined(separator: " AND ")
        return try rows(
            "\(Self.workerSelect)\(filter) ORDER BY started_at DESC, worker_id DESC", binds, Self.decodeWorker)
    }

    func staleWorkers(olderThan seconds: Double) throws -> [WorkerRecord] {
        var binds = Binds()
        binds.add(seconds)
        return try rows(
            """
            \(Self.workerSelect)
            WHERE state NOT IN ('stopped', 'crashed') AND lease_renewed_at < \(databaseNow) - make_interval(secs => $1)
            ORDER BY lease_renewed_at, worker_id
            """, binds, Self.decodeWorker)
    }

    // MARK: - Mapping

    /// Binds `workerColumns`, in order.
    static func bindWorker(_ worker: WorkerRecord, _ binds: inout Binds) {
        binds.add(worker.workerType.rawValue)
        binds.add(worker.state.rawValue)
        binds.add(worker.currentTaskID)
        binds.add(worker.startedAt)
        binds.add(worker.lastHeartbeat)
        binds.add(worker.stoppedAt)
        binds.add(worker.crashInfo?.crashedAt)
        binds.add(worker.crashInfo?.errorMessage)
        binds.add(worker.crashInfo?.stackTrace)
        binds.add(worker.statistics.tasksCompleted)
        binds.add(worker.statistics.tasksFailed)
        binds.add(worker.statistics.totalExecutionTime)
        binds.add(worker.config.maxParallelTasks)
        binds.add(worker.config.heartbeatInterval)
        binds.add(worker.config.timeoutSeconds)
        binds.add(json: JSONValue.object(worker.metadata).jsonText)
    }

    static func decodeWorker(_ row: inout Cells) throws -> WorkerRecord {
        let id: WorkerID = try row.id()
        let type: WorkerType = try row.enumeration()
        let state: WorkerState = try row.enumeration()
        let task = try row.text()
        let startedAt = try row.timestamp()
        let lastHeartbeat = try row.timestamp()
        let stoppedAt = try row.optionalTimestamp()
        let crashedAt = try row.optionalTimestamp()
        let crashMessage = try row.text()
        let crashTrace = try row.text()
        let statistics = WorkerStatistics(
            tasksCompleted: try row.int(), tasksFailed: try row.int(), totalExecutionTime: try row.double())
        let config = WorkerConfig(
            maxParallelTasks: try row.int(), heartbeatInterval: try row.int(), timeoutSeconds: try row.int())
        var worker = WorkerRecord(
            workerID: id, workerType: type, config: config, metadata: try row.object(), at: startedAt)
        worker.state = state
        worker.currentTaskID = task
        worker.lastHeartbeat = lastHeartbeat
        worker.stoppedAt = stoppedAt
        if let crashedAt {
            worker.crashInfo = CrashInfo(crashedAt: crashedAt, errorMessage: crashMessage ?? "", stackTrace: crashTrace)
        }
        worker.statistics = statistics
        return worker
    }
}

extension PostgresTransaction {
    func stateCounts() throws -> StateCounts {
        func counts(_ table: String) throws -> [String: Int] {
            let rows = try rows("SELECT state, COUNT(*) FROM \(table) GROUP BY state") { row in
                (try row.string(), try row.int())
            }
            return Dictionary(rows, uniquingKeysWith: +)
        }
        return StateCounts(
            tasks: try counts("tasks"), patches: try counts("patch_ledger"), workers: try counts("workers"))
    }
}
