/// The ten states of a patch ledger entry. `committed`, `rolled_back` and `dropped` are terminal.
public enum PatchState: String, CaseIterable, Codable, Sendable {
    case created, validated, queued, applied
    case applyFailed = "apply_failed"
    case verified, committed
    case rolledBack = "rolled_back"
    case quarantined, dropped

    /// Whether no transition leaves this state.
    public var isTerminal: Bool { self == .committed || self == .rolledBack || self == .dropped }

    /// The states this one may move to, exactly as DESIGN.md tables them.
    public var allowedTargets: Set<PatchState> {
        switch self {
        case .created: [.validated, .applyFailed, .quarantined, .dropped]
        case .validated: [.queued, .quarantined, .dropped]
        case .queued: [.applied, .applyFailed, .quarantined, .dropped]
        case .applied: [.verified, .applyFailed, .rolledBack, .quarantined, .dropped]
        case .applyFailed: [.queued, .quarantined, .dropped]
        case .verified: [.committed, .rolledBack, .quarantined, .dropped]
        case .quarantined: [.dropped]
        case .committed, .rolledBack, .dropped: []
        }
    }

    /// Whether the table allows moving from this state to `target`.
    public func canTransition(to target: PatchState) -> Bool { allowedTargets.contains(target) }
}

/// Something that happens to a patch; each event leads to exactly one target state.
public enum PatchEvent: Sendable, Hashable {
    /// The checks ran: → `validated` when all pass, else → `apply_failed` with the errors.
    case validate(formatOK: Bool, scopeOK: Bool, constraintsOK: Bool, errors: [String])
    /// Put a validated (or failed, for a retry) patch in the queue.
    case queue
    /// An application attempt succeeded in `workspace`, touching `files`.
    case applySucceeded(workspacePath: String, files: [String])
    /// An application attempt failed.
    case applyFailed(errorCode: String, errorMessage: String)
    /// The tests ran in the workspace: passed → `verified`, else → `apply_failed`.
    case verify(testsPassed: Bool, reason: String?)
    /// Land the verified patch.
    case commit
    /// Undo an applied or verified patch.
    case rollback(reason: String)
    /// Set the patch aside with a reason and where it is kept.
    case quarantine(reason: String, path: String?)
    /// Abandon the patch.
    case drop(reason: String)

    /// The operation's name as the command line spells it.
    public var name: String {
        switch self {
        case .validate: "validate"
        case .queue: "queue"
        case .applySucceeded, .applyFailed: "apply"
        case .verify: "verify"
        case .commit: "commit"
        case .rollback: "rollback"
        case .quarantine: "quarantine"
        case .drop: "drop"
        }
    }

    /// The state the event leads to.
    public var target: PatchState {
        switch self {
        case .validate(let format, let scope, let constraints, _):
            format && scope && constraints ? .validated : .applyFailed
        case .queue: .queued
        case .applySucceeded: .applied
        case .applyFailed: .applyFailed
        case .verify(let passed, _): passed ? .verified : .applyFailed
        case .commit: .committed
        case .rollback: .rolledBack
        case .quarantine: .quarantined
        case .drop: .dropped
        }
    }

    /// The states from which the operation is accepted (the ones it is meant for, not merely
    /// those the table would allow for its target: `apply` is for queued patches only).
    public var acceptedStates: [PatchState] {
        switch self {
        case .validate: [.created]
        case .queue: [.validated, .applyFailed]
        case .applySucceeded: [.queued]
        // Also from applied: the application is found to have failed after the fact (the target branch
        // moved under it, or the run was interrupted while gating it).
        case .applyFailed: [.queued, .applied]
        case .verify: [.applied]
        case .commit: [.verified]
        case .rollback: [.applied, .verified]
        case .quarantine: [.created, .validated, .queued, .applied, .applyFailed, .verified]
        case .drop: [.created, .validated, .queued, .applied, .applyFailed, .verified, .quarantined]
        }
    }

    /// The reason recorded in the state history for this event.
    public var reason: String? {
        switch self {
        case .validate(_, _, _, let errors): errors.isEmpty ? nil : errors.joined(separator: "; ")
        case .queue, .applySucceeded, .commit: nil
        case .applyFailed(let code, let message): "\(code): \(message)"
        case .verify(_, let reason): reason
        case .rollback(let reason), .quarantine(let reason, _), .drop(let reason): reason
        }
    }
}
