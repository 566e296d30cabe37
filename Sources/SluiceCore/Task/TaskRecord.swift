import Foundation

/// The five states of a task. `done`, `failed` and `cancelled` are terminal.
public enum TaskState: String, CaseIterable, Codable, Sendable {
    case queued, running, done, failed, cancelled

    /// Whether no transition leaves this state.
    public var isTerminal: Bool { self == .done || self == .failed || self == .cancelled }

    /// The transition table: whether some operation moves a task from this state to `target`.
    public func canTransition(to target: TaskState) -> Bool {
        switch (self, target) {
        case (.queued, .running), (.running, .queued): true
        // A requeue past the last attempt fails the task too.
        case (.running, .done), (.running, .failed): true
        case (.running, .cancelled), (.queued, .cancelled): true
        default: false
        }
    }
}

/// One ended attempt of a task that did not finish it: the worker was lost (its lease expired) or
/// stopped with the task.
public struct TaskCrash: Hashable, Sendable, Codable {
    public var attempt: Int
    public var epoch: Int64
    public var workerID: WorkerID?
    public var reason: String
    public var at: Timestamp

    public init(attempt: Int, epoch: Int64, workerID: WorkerID?, reason: String, at: Timestamp) {
        self.attempt = attempt
        self.epoch = epoch
        self.workerID = workerID
        self.reason = reason
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case attempt, epoch
        case workerID = "worker_id"
        case reason, at
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(reason, forKey: .reason)
        try container.encode(at, forKey: .at)
    }
}

/// Something that happens to a task.
public enum TaskEvent: Sendable, Hashable {
    /// A worker takes a queued task: a new attempt, under a new epoch.
    case claim(workerID: WorkerID, epoch: Int64)
    /// The agent's work became a patch (or needed none): the task is done.
    case complete(epoch: Int64, ledgerID: LedgerID?)
    /// The agent failed (its exit, a timeout, a stall, an empty diff): the task fails with the reason.
    case fail(epoch: Int64, reason: String)
    /// The attempt ended without an outcome (the worker's lease expired, or it was stopped with the
    /// task): back to the queue, or failed once `max_attempts` attempts were made.
    case requeue(epoch: Int64, reason: String)
    /// The worker was stopped with the task on purpose (`sluice worker stop --now`): back to the queue,
    /// the attempt given back. A stop is not the task's failure: it never makes a poison task.
    case release(epoch: Int64, reason: String)
    /// A person cancelled the task; a running one's epoch ends, so its agent can report nothing more.
    case cancel

    /// The operation's name as the command line spells it.
    public var name: String {
        switch self {
        case .claim: "claim"
        case .complete: "complete"
        case .fail: "fail"
        case .requeue: "requeue"
        case .release: "release"
        case .cancel: "cancel"
        }
    }

    /// The states from which the event is accepted.
    public var acceptedStates: [TaskState] {
        switch self {
        case .claim: [.queued]
        case .complete, .fail, .requeue, .release: [.running]
        case .cancel: [.queued, .running]
        }
    }

    /// The claim's epoch the event carries; nil for those that need none.
    public var epoch: Int64? {
        switch self {
        case .claim, .cancel: nil
        case .complete(let epoch, _), .fail(let epoch, _), .requeue(let epoch, _), .release(let epoch, _): epoch
        }
    }
}

/// What a task asks of an agent, as given to `sluice task add`.
public struct TaskRequest: Hashable, Sendable {
    public var prompt: String
    public var projectID: String
    public var workstreamID: String?
    public var phase: String?
    public var executionRequestID: ExecutionRequestID
    public var priority: Int
    public var maxAttempts: Int
    public var agent: String?
    public var branch: String?
    public var metadata: [String: JSONValue]

    /// The most bytes a prompt may have: 1 MiB.
    public static let maxPromptBytes = 1 << 20
    /// Priorities run from -1000 to 1000; higher runs first.
    public static let priorities = -1000...1000
    /// Attempts run from 1 to 100; 3 by default.
    public static let attemptRange = 1...100

    public init(
        prompt: String, projectID: String, workstreamID: String? = nil, phase: String? = nil,
        executionRequestID: ExecutionRequestID, priority: Int = 0, maxAttempts: Int = 3, agent: String? = nil,
        branch: String? = nil, metadata: [String: JSONValue] = [:]
    ) {
        self.prompt = prompt
        self.projectID = projectID
        self.workstreamID = workstreamID
        self.phase = phase
        self.executionRequestID = executionRequestID
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.agent = agent
        self.branch = branch
        self.metadata = metadata
    }

    /// Checks each field; the error names the first one out of its range.
    public func validated() throws -> TaskRequest {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw SluiceError.invalidInput("a task's prompt must not be empty")
        }
        guard prompt.utf8.count <= Self.maxPromptBytes else {
            throw SluiceError.invalidInput(
                "a task's prompt may have at most \(Self.maxPromptBytes) bytes, got \(prompt.utf8.count)")
        }
        guard Self.priorities.contains(priority) else {
            throw SluiceError.invalidInput(
                "priority must be from \(Self.priorities.lowerBound) to \(Self.priorities.upperBound), got \(priority)")
        }
        guard Self.attemptRange.contains(maxAttempts) else {
            throw SluiceError.invalidInput(
                "max attempts must be from \(Self.attemptRange.lowerBound) to \(Self.attemptRange.upperBound), "
                    + "got \(maxAttempts)")
        }
        // SQLite reads text up to its first NUL: a prompt with one would be stored cut short.
        guard !prompt.utf8.contains(0) else {
            throw SluiceError.invalidInput("a task's prompt may not contain NUL bytes")
        }
        for (name, value) in [
            ("project", projectID), ("workstream", workstreamID), ("phase", phase), ("agent", agent),
            ("branch", branch),
        ] {
            guard let value else { continue }
            if value.isEmpty || value.utf8.count > 200 {
                throw SluiceError.invalidInput("a task's \(name) must be 1 to 200 bytes")
            }
            if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw SluiceError.invalidInput("a task's \(name) may not contain control characters")
            }
        }
        if let agent, !Self.agents.contains(agent) {
            throw SluiceError.invalidInput(
                "unknown agent '\(agent)': expected one of \(Self.agents.joined(separator: ", "))")
        }
        if let branch, !Self.isBranchName(branch) {
            throw SluiceError.invalidInput("'\(branch)' is not a branch name git accepts")
        }
        return self
    }

    /// The agents Sluice has adapters for.
    public static let agents = ["aider", "claude", "codex", "command", "gemini"]

    /// git's rules for a branch name (`git check-ref-format --branch`), those that matter here.
    static func isBranchName(_ name: String) -> Bool {
        let forbidden: Set<Character> = [" ", "~", "^", ":", "?", "*", "[", "\\"]
        return !name.hasPrefix("-") && !name.hasPrefix("/") && !name.hasSuffix("/") && !name.hasSuffix(".")
            && !name.hasSuffix(".lock") && !name.contains("..") && !name.contains("//") && !name.contains("@{")
            && name != "@" && !name.contains(where: forbidden.contains)
            && !name.split(separator: "/").contains { $0.hasPrefix(".") }
    }
}

/// A task as stored and exported (`schema/task.v1.json`).
public struct TaskRecord: Hashable, Sendable, Codable {
    public var taskID: TaskID
    public var prompt: String
    public var projectID: String
    public var workstreamID: String?
    public var phase: String?
    public var executionRequestID: ExecutionRequestID
    public var priority: Int
    public var agent: String?
    public var branch: String?
    public var state: TaskState
    /// The fencing token: raised by every claim. Only what carries the current epoch is accepted.
    public var epoch: Int64
    /// Attempts started (claims).
    public var attempts: Int
    public var maxAttempts: Int
    /// The worker of the current or last attempt: set by a claim, kept when the task ends (done,
    /// failed or cancelled), cleared by a requeue (the crash history keeps it).
    public var workerID: WorkerID?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var claimedAt: Timestamp?
    public var finishedAt: Timestamp?
    /// The patch the task produced.
    public var ledgerID: LedgerID?
    /// Why it failed or was cancelled.
    public var reason: String?
    /// The attempts that ended without an outcome.
    public var crashes: [TaskCrash]
    public var metadata: [String: JSONValue]

    /// A new queued task.
    public init(taskID: TaskID, request: TaskRequest, at now: Timestamp) {
        self.taskID = taskID
        self.prompt = request.prompt
        self.projectID = request.projectID
        self.workstreamID = request.workstreamID
        self.phase = request.phase
        self.executionRequestID = request.executionRequestID
        self.priority = request.priority
        self.agent = request.agent
        self.branch = request.branch
        self.state = .queued
        self.epoch = 0
        self.attempts = 0
        self.maxAttempts = request.maxAttempts
        self.workerID = nil
        self.createdAt = now
        self.updatedAt = now
        self.claimedAt = nil
        self.finishedAt = nil
        self.ledgerID = nil
        self.reason = nil
        self.crashes = []
        self.metadata = request.metadata
    }

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case prompt
        case projectID = "project_id"
        case workstreamID = "workstream_id"
        case phase
        case executionRequestID = "execution_request_id"
        case priority, agent, branch, state, epoch, attempts
        case maxAttempts = "max_attempts"
        case workerID = "worker_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case claimedAt = "claimed_at"
        case finishedAt = "finished_at"
        case ledgerID = "ledger_id"
        case reason, crashes, metadata
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(taskID, forKey: .taskID)
        try container.encode(prompt, forKey: .prompt)
        try container.encode(projectID, forKey: .projectID)
        try container.encode(workstreamID, forKey: .workstreamID)
        try container.encode(phase, forKey: .phase)
        try container.encode(executionRequestID, forKey: .executionRequestID)
        try container.encode(priority, forKey: .priority)
        try container.encode(agent, forKey: .agent)
        try container.encode(branch, forKey: .branch)
        try container.encode(state, forKey: .state)
        try container.encode(epoch, forKey: .epoch)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(workerID, forKey: .workerID)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(claimedAt, forKey: .claimedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(ledgerID, forKey: .ledgerID)
        try container.encode(reason, forKey: .reason)
        try container.encode(crashes, forKey: .crashes)
        try container.encode(metadata, forKey: .metadata)
    }

    /// Applies an event: returns the task after it, or throws when its state or epoch refuses it.
    ///
    /// - Throws: ``SluiceError`` (`invalidTransition`) naming the state and what the event needs;
    ///   (`lostRace`) when the event carries an epoch other than the task's: a worker whose claim
    ///   was taken over (a "zombie") reports nothing more; (`invalidInput`) for an empty reason.
    public func applying(_ event: TaskEvent, at now: Timestamp) throws -> TaskRecord {
        // A report under another epoch is stale whatever the task's state now (a cancel moved the
        // epoch on as it ended the task): it is refused as such, so that it is logged as such.
        if let carried = event.epoch, carried != epoch {
            let claim =
                carried < epoch ? "the claim of epoch \(carried) is stale" : "no claim of epoch \(carried) was made"
            throw SluiceError(
                code: .lostRace,
                message:
                    "cannot \(event.name) task \(taskID): \(claim) (the task is \(state.rawValue) at epoch \(epoch)); "
                    + "its work is refused")
        }
        guard event.acceptedStates.contains(state) else {
            throw SluiceError.invalidTransition(
                event.name, "task", taskID.description, from: state.rawValue,
                needs: event.acceptedStates.map(\.rawValue))
        }
        var next = self
        next.updatedAt = now
        switch event {
        case .claim(let worker, let newEpoch):
            guard newEpoch > epoch else {
                throw SluiceError.invalidInput("a claim's epoch must pass the task's (\(epoch)), got \(newEpoch)")
            }
            next.state = .running
            next.epoch = newEpoch
            next.attempts += 1
            next.workerID = worker
            next.claimedAt = now
        case .complete(_, let ledgerID):
            next.state = .done
            next.ledgerID = ledgerID
            next.finishedAt = now
        case .fail(_, let reason):
            guard !reason.isEmpty else { throw SluiceError.invalidInput("a failure needs a reason") }
            next.state = .failed
            next.reason = reason
            next.finishedAt = now
        case .requeue(_, let reason):
            guard !reason.isEmpty else { throw SluiceError.invalidInput("a requeue needs a reason") }
            next.crashes.append(TaskCrash(attempt: attempts, epoch: epoch, workerID: workerID, reason: reason, at: now))
            next.workerID = nil
            if attempts >= maxAttempts {
                next.state = .failed
                next.reason = "poison task: \(attempts) attempts ended without an outcome (last: \(reason))"
                next.finishedAt = now
            } else {
                next.state = .queued
            }
        case .release(_, let reason):
            guard !reason.isEmpty else { throw SluiceError.invalidInput("a release needs a reason") }
            next.crashes.append(TaskCrash(attempt: attempts, epoch: epoch, workerID: workerID, reason: reason, at: now))
            next.workerID = nil
            next.attempts = max(0, attempts - 1)
            next.state = .queued
        case .cancel:
            next.state = .cancelled
            next.reason = "cancelled"
            next.finishedAt = now
            // A running task's claim ends here: its agent's late reports carry a stale epoch.
            if state == .running { next.epoch += 1 }
        }
        precondition(state.canTransition(to: next.state), "task event \(event.name) broke the transition table")
        return next
    }
}
