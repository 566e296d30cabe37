import Foundation

/// The outcome of a patch's checks.
public struct PatchValidation: Hashable, Sendable, Codable {
    public var formatOK = false
    public var scopeOK = false
    public var constraintsOK = false
    public var testsRan = false
    public var testsPassed = false
    public var validationErrors: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case formatOK = "format_ok"
        case scopeOK = "scope_ok"
        case constraintsOK = "constraints_ok"
        case testsRan = "tests_ran"
        case testsPassed = "tests_passed"
        case validationErrors = "validation_errors"
    }
}

/// What happened when the patch was applied.
public struct PatchApply: Hashable, Sendable, Codable {
    /// Every application attempt, successful or not.
    public var attempts = 0
    public var lastAttemptAt: Timestamp?
    public var lastErrorCode: String?
    public var lastErrorMessage: String?
    public var workspacePath: String?
    /// Unique paths, in the order first applied.
    public var appliedFiles: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case attempts
        case lastAttemptAt = "last_attempt_at"
        case lastErrorCode = "last_error_code"
        case lastErrorMessage = "last_error_message"
        case workspacePath = "workspace_path"
        case appliedFiles = "applied_files"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(lastAttemptAt, forKey: .lastAttemptAt)
        try container.encode(lastErrorCode, forKey: .lastErrorCode)
        try container.encode(lastErrorMessage, forKey: .lastErrorMessage)
        try container.encode(workspacePath, forKey: .workspacePath)
        try container.encode(appliedFiles, forKey: .appliedFiles)
    }
}

/// Whether and why the patch is set aside.
public struct PatchQuarantine: Hashable, Sendable, Codable {
    public var isQuarantined = false
    public var quarantineReason: String?
    public var quarantinePath: String?
    public var quarantinedAt: Timestamp?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case isQuarantined = "is_quarantined"
        case quarantineReason = "quarantine_reason"
        case quarantinePath = "quarantine_path"
        case quarantinedAt = "quarantined_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(isQuarantined, forKey: .isQuarantined)
        try container.encode(quarantineReason, forKey: .quarantineReason)
        try container.encode(quarantinePath, forKey: .quarantinePath)
        try container.encode(quarantinedAt, forKey: .quarantinedAt)
    }
}

/// Links between patches.
public struct PatchRelations: Hashable, Sendable, Codable {
    public var replacesPatchID: PatchID?
    public var rollbackOfPatchID: PatchID?
    public var chainID: String?

    public init(replacesPatchID: PatchID? = nil, rollbackOfPatchID: PatchID? = nil, chainID: String? = nil) {
        self.replacesPatchID = replacesPatchID
        self.rollbackOfPatchID = rollbackOfPatchID
        self.chainID = chainID
    }

    enum CodingKeys: String, CodingKey {
        case replacesPatchID = "replaces_patch_id"
        case rollbackOfPatchID = "rollback_of_patch_id"
        case chainID = "chain_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replacesPatchID, forKey: .replacesPatchID)
        try container.encode(rollbackOfPatchID, forKey: .rollbackOfPatchID)
        try container.encode(chainID, forKey: .chainID)
    }
}

/// One entry of a patch's state history.
public struct PatchHistoryEntry: Hashable, Sendable, Codable {
    public var state: PatchState
    public var at: Timestamp
    public var reason: String?

    public init(state: PatchState, at: Timestamp, reason: String?) {
        self.state = state
        self.at = at
        self.reason = reason
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state, forKey: .state)
        try container.encode(at, forKey: .at)
        try container.encode(reason, forKey: .reason)
    }
}

/// A patch ledger entry as stored and exported (`schema/patch_ledger_entry.v1.json`).
///
/// `stateHistory` is not stored with the entry: it is read from the append-only event log.
public struct PatchLedgerEntry: Hashable, Sendable, Codable {
    public var ledgerID: LedgerID
    public var patchID: PatchID
    public var projectID: String
    public var phaseID: String?
    public var workstreamID: String?
    public var executionRequestID: ExecutionRequestID?
    public var state: PatchState
    public var stateHistory: [PatchHistoryEntry]
    public var validation: PatchValidation
    public var apply: PatchApply
    public var quarantine: PatchQuarantine
    public var relations: PatchRelations
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// A new entry in `created`.
    public init(
        ledgerID: LedgerID, patchID: PatchID, projectID: String, phaseID: String? = nil, workstreamID: String? = nil,
        executionRequestID: ExecutionRequestID? = nil, relations: PatchRelations = PatchRelations(), at now: Timestamp
    ) {
        self.ledgerID = ledgerID
        self.patchID = patchID
        self.projectID = projectID
        self.phaseID = phaseID
        self.workstreamID = workstreamID
        self.executionRequestID = executionRequestID
        self.state = .created
        self.stateHistory = [PatchHistoryEntry(state: .created, at: now, reason: nil)]
        self.validation = PatchValidation()
        self.apply = PatchApply()
        self.quarantine = PatchQuarantine()
        self.relations = relations
        self.createdAt = now
        self.updatedAt = now
    }

    enum CodingKeys: String, CodingKey {
        case ledgerID = "ledger_id"
        case patchID = "patch_id"
        case projectID = "project_id"
        case phaseID = "phase_id"
        case workstreamID = "workstream_id"
        case executionRequestID = "execution_request_id"
        case state
        case stateHistory = "state_history"
        case validation, apply, quarantine, relations
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ledgerID, forKey: .ledgerID)
        try container.encode(patchID, forKey: .patchID)
        try container.encode(projectID, forKey: .projectID)
        try container.encode(phaseID, forKey: .phaseID)
        try container.encode(workstreamID, forKey: .workstreamID)
        try container.encode(executionRequestID, forKey: .executionRequestID)
        try container.encode(state, forKey: .state)
        try container.encode(stateHistory, forKey: .stateHistory)
        try container.encode(validation, forKey: .validation)
        try container.encode(apply, forKey: .apply)
        try container.encode(quarantine, forKey: .quarantine)
        try container.encode(relations, forKey: .relations)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }

    /// Applies an event: the entry after it, with the new state appended to its history.
    ///
    /// - Throws: ``SluiceError`` (`invalidTransition`) naming the current state and what the
    ///   operation needs; (`invalidInput`) for an empty reason where one is required.
    public func applying(_ event: PatchEvent, at now: Timestamp) throws -> PatchLedgerEntry {
        let target = event.target
        guard event.acceptedStates.contains(state), state.canTransition(to: target) else {
            throw SluiceError.invalidTransition(
                event.name, "patch", ledgerID.description, from: state.rawValue,
                needs: event.acceptedStates.map(\.rawValue))
        }
        var next = self
        switch event {
        case .validate(let format, let scope, let constraints, let errors):
            next.validation.formatOK = format
            next.validation.scopeOK = scope
            next.validation.constraintsOK = constraints
            next.validation.validationErrors = errors
            if target == .applyFailed {
                next.apply.lastErrorCode = "validation_failed"
                next.apply.lastErrorMessage =
                    errors.isEmpty ? "validation failed" : errors.joined(separator: "; ")
            }
        case .queue:
            break
        case .applySucceeded(let workspace, let files):
            next.apply.attempts += 1
            next.apply.lastAttemptAt = now
            next.apply.workspacePath = workspace
            var seen = Set<String>()
            next.apply.appliedFiles = files.filter { seen.insert($0).inserted }
        case .applyFailed(let code, let message):
            guard !code.isEmpty else { throw SluiceError.invalidInput("an apply failure needs an error code") }
            // From queued this is an attempt of its own; from applied it is the outcome of the attempt
            // that applied it, already counted.
            if state == .queued {
                next.apply.attempts += 1
                next.apply.lastAttemptAt = now
            }
            next.apply.lastErrorCode = code
            next.apply.lastErrorMessage = message
        case .verify(let passed, let reason):
            next.validation.testsRan = true
            next.validation.testsPassed = passed
            if !passed {
                next.apply.lastErrorCode = "tests_failed"
                next.apply.lastErrorMessage = reason ?? "tests failed"
            }
        case .commit:
            break
        case .rollback(let reason), .drop(let reason):
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SluiceError.invalidInput("\(event.name) needs a reason")
            }
        case .quarantine(let reason, let path):
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SluiceError.invalidInput("quarantine needs a reason")
            }
            next.quarantine.isQuarantined = true
            next.quarantine.quarantineReason = reason
            next.quarantine.quarantinePath = path
            next.quarantine.quarantinedAt = now
        }
        next.state = target
        next.updatedAt = now
        next.stateHistory.append(PatchHistoryEntry(state: target, at: now, reason: event.reason))
        return next
    }
}

extension PatchLedgerEntry {
    /// What became of a submitted patch, in a few words: its state, the errors that rejected it, or
    /// why it is held.
    public var verdict: String {
        switch state {
        case .quarantined: "rejected: " + validation.validationErrors.joined(separator: "; ")
        case .validated: "validated, " + (stateHistory.last?.reason ?? "held (--hold)")
        case .queued:
            // The validation's note, if it left one (it does not apply to the head yet, say).
            "queued" + (stateHistory.last { $0.state == .validated }?.reason.map { " (\($0))" } ?? "")
        default: state.rawValue
        }
    }
}
