/// Tuning values a worker was created with.
public struct WorkerConfig: Hashable, Sendable, Codable {
    /// How many tasks the worker may run at once.
    public var maxParallelTasks: Int
    /// Seconds between heartbeats the worker promises.
    public var heartbeatInterval: Int
    /// Seconds after which a task is considered overdue.
    public var timeoutSeconds: Int

    /// Creates a configuration; the defaults are 1 task, 30 s heartbeats, 3600 s timeout.
    public init(maxParallelTasks: Int = 1, heartbeatInterval: Int = 30, timeoutSeconds: Int = 3600) {
        self.maxParallelTasks = maxParallelTasks
        self.heartbeatInterval = heartbeatInterval
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxParallelTasks = "max_parallel_tasks"
        case heartbeatInterval = "heartbeat_interval"
        case timeoutSeconds = "timeout_seconds"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = WorkerConfig()
        self.maxParallelTasks =
            try container.decodeIfPresent(Int.self, forKey: .maxParallelTasks) ?? defaults.maxParallelTasks
        self.heartbeatInterval =
            try container.decodeIfPresent(Int.self, forKey: .heartbeatInterval) ?? defaults.heartbeatInterval
        self.timeoutSeconds =
            try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds) ?? defaults.timeoutSeconds
    }

    /// The largest value of each setting: 1024 tasks, a heartbeat a day, a 7-day timeout.
    public static let maxima = (maxParallelTasks: 1024, heartbeatInterval: 86_400, timeoutSeconds: 7 * 86_400)

    /// Checks that every value is positive and within its maximum.
    public func validated() throws -> WorkerConfig {
        for (name, value, maximum) in [
            ("max_parallel_tasks", maxParallelTasks, Self.maxima.maxParallelTasks),
            ("heartbeat_interval", heartbeatInterval, Self.maxima.heartbeatInterval),
            ("timeout_seconds", timeoutSeconds, Self.maxima.timeoutSeconds),
        ] where !(1...maximum).contains(value) {
            throw SluiceError.invalidInput(
                "invalid worker config: \(name) must be from 1 to \(maximum), got \(value)")
        }
        return self
    }
}

/// Why and when a worker crashed.
public struct CrashInfo: Hashable, Sendable, Codable {
    public var crashedAt: Timestamp
    public var errorMessage: String
    public var stackTrace: String?

    public init(crashedAt: Timestamp, errorMessage: String, stackTrace: String?) {
        self.crashedAt = crashedAt
        self.errorMessage = errorMessage
        self.stackTrace = stackTrace
    }

    enum CodingKeys: String, CodingKey {
        case crashedAt = "crashed_at"
        case errorMessage = "error_message"
        case stackTrace = "stack_trace"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(crashedAt, forKey: .crashedAt)
        try container.encode(errorMessage, forKey: .errorMessage)
        try container.encode(stackTrace, forKey: .stackTrace)
    }
}

/// A worker's running totals. `avg_task_duration` is derived, never stored.
public struct WorkerStatistics: Hashable, Sendable, Codable {
    public var tasksCompleted: Int
    public var tasksFailed: Int
    /// Seconds spent on tasks, summed.
    public var totalExecutionTime: Double

    /// The most seconds one task may report: a year.
    public static let maxTaskSeconds: Double = 365 * 86_400

    public init(tasksCompleted: Int = 0, tasksFailed: Int = 0, totalExecutionTime: Double = 0) {
        self.tasksCompleted = tasksCompleted
        self.tasksFailed = tasksFailed
        self.totalExecutionTime = totalExecutionTime
    }

    /// Total time ÷ (completed + failed); 0 when no task has finished.
    public var avgTaskDuration: Double {
        let count = tasksCompleted + tasksFailed
        return count == 0 ? 0 : totalExecutionTime / Double(count)
    }

    enum CodingKeys: String, CodingKey {
        case tasksCompleted = "tasks_completed"
        case tasksFailed = "tasks_failed"
        case totalExecutionTime = "total_execution_time"
        case avgTaskDuration = "avg_task_duration"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.tasksCompleted = try container.decode(Int.self, forKey: .tasksCompleted)
        self.tasksFailed = try container.decode(Int.self, forKey: .tasksFailed)
        self.totalExecutionTime = try container.decode(Double.self, forKey: .totalExecutionTime)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tasksCompleted, forKey: .tasksCompleted)
        try container.encode(tasksFailed, forKey: .tasksFailed)
        try container.encode(totalExecutionTime, forKey: .totalExecutionTime)
        try container.encode(avgTaskDuration, forKey: .avgTaskDuration)
    }
}

/// A worker as stored and exported (`schema/worker_lifecycle.v1.json`).
public struct WorkerRecord: Hashable, Sendable, Codable {
    public var workerID: WorkerID
    public var workerType: WorkerType
    public var state: WorkerState
    public var currentTaskID: String?
    public var startedAt: Timestamp
    public var lastHeartbeat: Timestamp
    public var stoppedAt: Timestamp?
    public var crashInfo: CrashInfo?
    public var statistics: WorkerStatistics
    public var config: WorkerConfig
    public var metadata: [String: JSONValue]

    /// A new idle worker.
    public init(
        workerID: WorkerID, workerType: WorkerType, config: WorkerConfig = WorkerConfig(),
        metadata: [String: JSONValue] = [:], at now: Timestamp
    ) {
        self.workerID = workerID
        self.workerType = workerType
        self.state = .idle
        self.currentTaskID = nil
        self.startedAt = now
        self.lastHeartbeat = now
        self.stoppedAt = nil
        self.crashInfo = nil
        self.statistics = WorkerStatistics()
        self.config = config
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case workerType = "worker_type"
        case state
        case currentTaskID = "current_task_id"
        case startedAt = "started_at"
        case lastHeartbeat = "last_heartbeat"
        case stoppedAt = "stopped_at"
        case crashInfo = "crash_info"
        case statistics, config, metadata
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(workerType, forKey: .workerType)
        try container.encode(state, forKey: .state)
        try container.encode(currentTaskID, forKey: .currentTaskID)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(lastHeartbeat, forKey: .lastHeartbeat)
        try container.encode(stoppedAt, forKey: .stoppedAt)
        try container.encode(crashInfo, forKey: .crashInfo)
        try container.encode(statistics, forKey: .statistics)
        try container.encode(config, forKey: .config)
        try container.encode(metadata, forKey: .metadata)
    }

    /// Applies an event: returns the worker after it, or throws when the current state does not accept it.
    ///
    /// - Throws: ``SluiceError`` (`invalidTransition`) naming the current state and what the event needs;
    ///   (`invalidInput`) for negative or non-finite execution seconds.
    public func applying(_ event: WorkerEvent, at now: Timestamp) throws -> WorkerRecord {
        guard event.acceptedStates.contains(state) else {
            throw SluiceError.invalidTransition(
                event.name, "worker", workerID.description, from: state.rawValue,
                needs: event.acceptedStates.map(\.rawValue))
        }
        var next = self
        switch event {
        case .assign(let taskID):
            guard !taskID.isEmpty else { throw SluiceError.invalidInput("a task id must not be empty") }
            next.state = .busy
            next.currentTaskID = taskID
        case .complete(let success, let seconds):
            guard seconds.isFinite, (0...WorkerStatistics.maxTaskSeconds).contains(seconds) else {
                throw SluiceError.invalidInput(
                    "execution seconds must be a number from 0 to \(Int(WorkerStatistics.maxTaskSeconds)) "
                        + "(one year), got \(seconds)")
            }
            next.state = .idle
            next.currentTaskID = nil
            // Bounded seconds keep the total finite; the counts are checked rather than left to trap.
            let (completed, overflowCompleted) = next.statistics.tasksCompleted.addingReportingOverflow(success ? 1 : 0)
            let (failed, overflowFailed) = next.statistics.tasksFailed.addingReportingOverflow(success ? 0 : 1)
            let total = next.statistics.totalExecutionTime + seconds
            guard !overflowCompleted, !overflowFailed, total.isFinite else {
                throw SluiceError.invalidInput("worker \(workerID)'s statistics cannot count another task")
            }
            next.statistics.tasksCompleted = completed
            next.statistics.tasksFailed = failed
            next.statistics.totalExecutionTime = total
        case .pause:
            next.state = .paused
        case .resume:
            next.state = currentTaskID == nil ? .idle : .busy
        case .crash(let message, let stackTrace):
            next.state = .crashed
            next.currentTaskID = nil
            next.crashInfo = CrashInfo(crashedAt: now, errorMessage: message, stackTrace: stackTrace)
        case .shutdown:
            next.state = .stopped
            next.currentTaskID = nil
            next.stoppedAt = now
        }
        precondition(state.canTransition(to: next.state), "worker event \(event.name) broke the transition table")
        return next
    }
}
