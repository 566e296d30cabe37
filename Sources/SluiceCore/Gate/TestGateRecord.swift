import Foundation

/// When and how a gate's check ran.
public struct GateExecution: Hashable, Sendable, Codable {
    public var startedAt: Timestamp?
    public var completedAt: Timestamp?
    public var durationSeconds: Double?
    public var command: String?
    public var exitCode: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case durationSeconds = "duration_seconds"
        case command
        case exitCode = "exit_code"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(completedAt, forKey: .completedAt)
        try container.encode(durationSeconds, forKey: .durationSeconds)
        try container.encode(command, forKey: .command)
        try container.encode(exitCode, forKey: .exitCode)
    }
}

/// Something that happens to a gate.
public enum GateEvent: Sendable, Hashable {
    /// The check starts (`pending` → `running`).
    case start(command: String?)
    /// The check ended with an exit code and, when it produced them, parsed results.
    /// `mustRun`: tests that passed on the target branch; any of them absent from the results fails the gate.
    /// `excused`: quarantined tests, whose failures decide nothing.
    case complete(exitCode: Int?, results: GateResults?, mustRun: [String] = [], excused: [String] = [])
    /// The check produced no trustworthy results (could not start, crashed, timed out).
    case error(message: String, exitCode: Int?)
    /// The gate is not run, with a reason.
    case skip(reason: String)

    /// The operation's name as the command line spells it.
    public var name: String {
        switch self {
        case .start: "start"
        case .complete, .error: "complete"
        case .skip: "skip"
        }
    }

    /// The states from which the event is accepted.
    public var acceptedStates: [GateState] {
        switch self {
        case .start: [.pending]
        case .complete, .error: [.running]
        case .skip: [.pending, .running]
        }
    }
}

/// A quality gate as stored and exported (`schema/test_gate.v1.json`).
public struct TestGateRecord: Hashable, Sendable, Codable {
    public var gateID: GateID
    public var name: String
    public var gateType: GateType
    public var state: GateState
    public var projectID: String?
    public var executionRequestID: ExecutionRequestID?
    public var criteria: GateCriteria
    public var execution: GateExecution
    public var results: GateResults?
    public var decision: GateDecision?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var metadata: [String: JSONValue]

    /// A new pending gate.
    public init(
        gateID: GateID, name: String, gateType: GateType, projectID: String? = nil,
        executionRequestID: ExecutionRequestID? = nil, criteria: GateCriteria = GateCriteria(),
        metadata: [String: JSONValue] = [:], at now: Timestamp
    ) {
        self.gateID = gateID
        self.name = name
        self.gateType = gateType
        self.state = .pending
        self.projectID = projectID
        self.executionRequestID = executionRequestID
        self.criteria = criteria
        self.execution = GateExecution()
        self.results = nil
        self.decision = nil
        self.createdAt = now
        self.updatedAt = now
        self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case gateID = "gate_id"
        case name
        case gateType = "gate_type"
        case state
        case projectID = "project_id"
        case executionRequestID = "execution_request_id"
        case criteria, execution, results, decision
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case metadata
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gateID, forKey: .gateID)
        try container.encode(name, forKey: .name)
        try container.encode(gateType, forKey: .gateType)
        try container.encode(state, forKey: .state)
        try container.encode(projectID, forKey: .projectID)
        try container.encode(executionRequestID, forKey: .executionRequestID)
        try container.encode(criteria, forKey: .criteria)
        try container.encode(execution, forKey: .execution)
        try container.encode(results, forKey: .results)
        try container.encode(decision, forKey: .decision)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(metadata, forKey: .metadata)
    }

    /// Applies an event and returns the gate after it.
    ///
    /// Completing with results decides `passed` or `failed` by the criteria. Completing without
    /// results judges by exit code (0 passes, anything else fails) unless a criterion needs
    /// results, which makes it `error`. A non-zero exit with results that show no failure is
    /// `error` too: the runner broke, so its report cannot be trusted.
    ///
    /// - Throws: ``SluiceError`` (`invalidTransition`) naming the current state; (`invalidInput`)
    ///   for malformed results or an empty skip reason.
    public func applying(_ event: GateEvent, at now: Timestamp) throws -> TestGateRecord {
        guard event.acceptedStates.contains(state) else {
            throw SluiceError.invalidTransition(
                event.name, "gate", gateID.description, from: state.rawValue,
                needs: event.acceptedStates.map(\.rawValue))
        }
        var next = self
        next.updatedAt = now
        switch event {
        case .start(let command):
            next.state = .running
            next.execution.startedAt = now
            next.execution.command = command
        case .complete(let exitCode, let results, let mustRun, let excused):
            next.finish(at: now, exitCode: exitCode)
            if let results {
                let results = try results.validated()
                next.results = results
                if !results.reportsTests, results.coveragePercent != nil {
                    // Coverage alone (a gate with `coverage` and no `results`): judged by its coverage and
                    // its exit code, which stands for the tests the report does not list.
                    var decision = criteria.evaluate(results)
                    let exitOK = exitCode == 0
                    decision.criteriaMet["exit_code"] = exitOK
                    if !exitOK {
                        let exit = exitCode.map { "failed: exit code \($0)" } ?? "failed: no exit code was reported"
                        decision.reason =
                            decision.passed ? exit : exit + "; " + String(decision.reason.dropFirst("failed: ".count))
                        decision.passed = false
                    } else if decision.passed {
                        decision.reason = "passed: exit code 0; all criteria met"
                    }
                    next.decision = decision
                    next.state = decision.passed ? .passed : .failed
                } else if let exitCode, exitCode != 0, !results.showsFailure {
                    next.state = .error
                    next.decision = GateDecision(
                        passed: false,
                        reason: "error: the command exited \(exitCode) but its results show no failure; "
                            + "they cannot be trusted",
                        criteriaMet: [:])
                } else {
                    let decision = criteria.evaluate(results, mustRun: mustRun, excused: excused)
                    next.decision = decision
                    next.state = decision.passed ? .passed : .failed
                }
            } else if criteria.minCoverage != nil || !criteria.requiredTests.isEmpty {
                next.state = .error
                next.decision = GateDecision(
                    passed: false, reason: "error: no results were reported, and the criteria need them",
                    criteriaMet: [:])
            } else if let exitCode {
                next.state = exitCode == 0 ? .passed : .failed
                next.decision = GateDecision(
                    passed: exitCode == 0,
                    reason: exitCode == 0 ? "passed: exit code 0" : "failed: exit code \(exitCode)",
                    criteriaMet: ["exit_code": exitCode == 0])
            } else {
                next.state = .error
                next.decision = GateDecision(
                    passed: false, reason: "error: neither results nor an exit code were reported", criteriaMet: [:])
            }
        case .error(let message, let exitCode):
            next.finish(at: now, exitCode: exitCode)
            next.state = .error
            next.decision = GateDecision(passed: false, reason: "error: \(message)", criteriaMet: [:])
        case .skip(let reason):
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SluiceError.invalidInput("skip needs a reason")
            }
            next.state = .skipped
            next.decision = GateDecision(passed: false, reason: "skipped: \(reason)", criteriaMet: [:])
        }
        precondition(state.canTransition(to: next.state), "gate event \(event.name) broke the transition table")
        return next
    }

    private mutating func finish(at now: Timestamp, exitCode: Int?) {
        execution.completedAt = now
        execution.exitCode = exitCode
        if let startedAt = execution.startedAt {
            execution.durationSeconds = max(0, now.seconds(since: startedAt))
        }
    }
}
