import Foundation
import SluiceCore
import SluiceStore

/// PatchLedger: the audit trail and lifecycle of each patch.
public struct PatchService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Creates a ledger entry in `created`.
    ///
    /// - Throws: `invalidInput` for an empty project, `conflict` when the patch id is taken.
    @discardableResult
    public func create(
        project: String, patchID: PatchID? = nil, phase: String? = nil, workstream: String? = nil,
        request: ExecutionRequestID? = nil, relations: PatchRelations = PatchRelations(), source: PatchSource? = nil
    ) throws -> PatchLedgerEntry {
        guard !project.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw SluiceError.invalidInput("a patch needs a project id")
        }
        let now = context.clock.now()
        let entry = PatchLedgerEntry(
            ledgerID: LedgerID.make(context.ids), patchID: patchID ?? PatchID.make(context.ids), projectID: project,
            phaseID: phase, workstreamID: workstream, executionRequestID: request, relations: relations, at: now)
        var payload: [String: JSONValue] = ["patch_id": .string(entry.patchID.description)]
        if let rollback = relations.rollbackOfPatchID {
            payload["rollback_of_patch_id"] = .string(rollback.description)
        }
        if let source { payload["sha256"] = .string(source.sha256) }
        try context.storage.insertPatch(
            entry,
            event: context.event(
                .patch, entry.ledgerID.description, from: nil, to: PatchState.created.rawValue, at: now,
                payload: payload),
            source: source)
        return entry
    }

    /// Records the checks: → `validated` when all pass, else → `apply_failed` with the errors.
    ///
    /// - Parameter note: recorded as the transition's reason when the checks pass (why a valid
    ///   patch is held, for example).
    @discardableResult
    public func validate(
        _ id: LedgerID, formatOK: Bool, scopeOK: Bool, constraintsOK: Bool, errors: [String] = [], note: String? = nil
    ) throws -> PatchLedgerEntry {
        var errors = errors
        if errors.isEmpty {
            if !formatOK { errors.append("format: the patch is not well formed") }
            if !scopeOK { errors.append("scope: the patch touches paths outside its scope") }
            if !constraintsOK { errors.append("constraints: the patch breaks a constraint") }
        }
        return try apply(
            .validate(formatOK: formatOK, scopeOK: scopeOK, constraintsOK: constraintsOK, errors: errors), id,
            reason: errors.isEmpty ? note : nil)
    }

    /// A person approves a validated patch (one held for review, or with `--hold`): it is queued, with
    /// the person as the event's actor.
    ///
    /// - Throws: `invalidInput` for an empty name; `invalidTransition` unless the patch is validated.
    @discardableResult
    public func approve(_ id: LedgerID, by person: String) throws -> PatchLedgerEntry {
        let person = person.trimmingCharacters(in: .whitespaces)
        guard !person.isEmpty else { throw SluiceError.invalidInput("an approval needs the approver's name (--by)") }
        guard person.count <= 200, !person.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw SluiceError.invalidInput("--by must be a name on one line, without control characters")
        }
        let ledgerID = try get(id).ledgerID
        var approving = self.context
        approving.actor = person
        return try PatchService(approving).update(
            ledgerID, .queue, reason: "approved by \(person)", operation: "approve", only: [.validated])
    }

    /// Who approved the patch, if anyone did.
    public func approver(of id: LedgerID) throws -> String? {
        try context.storage.events(entityID: id.description, after: 0, limit: nil)
            .last { $0.payload["operation"] == .string("approve") }?.actor
    }

    /// Queues a validated patch, or re-queues one whose application failed.
    @discardableResult
    public func queue(_ id: LedgerID) throws -> PatchLedgerEntry { try apply(.queue, id) }

    /// Records a successful application in `workspace`.
    @discardableResult
    public func applied(_ id: LedgerID, workspace: String, files: [String]) throws -> PatchLedgerEntry {
        guard !workspace.isEmpty else { throw SluiceError.invalidInput("a successful apply needs a workspace path") }
        return try apply(.applySucceeded(workspacePath: workspace, files: files), id)
    }

    /// Records a failed application attempt.
    @discardableResult
    public func applyFailed(_ id: LedgerID, code: String, message: String) throws -> PatchLedgerEntry {
        try apply(.applyFailed(errorCode: code, errorMessage: message), id)
    }

    /// Records the test outcome: passed → `verified`, else → `apply_failed`.
    @discardableResult
    public func verify(_ id: LedgerID, passed: Bool, reason: String? = nil) throws -> PatchLedgerEntry {
        try apply(.verify(testsPassed: passed, reason: reason ?? (passed ? "tests passed" : "tests failed")), id)
    }

    /// Marks a verified patch committed.
    @discardableResult
    public func commit(_ id: LedgerID) throws -> PatchLedgerEntry { try apply(.commit, id) }

    /// Rolls back an applied or verified patch. A committed patch is undone by ``revert(_:)`` instead.
    @discardableResult
    public func rollback(_ id: LedgerID, reason: String) throws -> PatchLedgerEntry {
        do {
            return try apply(.rollback(reason: reason), id)
        } catch let error as SluiceError where error.currentState == PatchState.committed.rawValue {
            throw SluiceError(
                code: error.code,
                message: error.message + "; a committed patch is undone by a new patch that reverts it",
                currentState: error.currentState)
        }
    }

    /// Sets a patch aside with the reason and where it is kept.
    @discardableResult
    public func quarantine(_ id: LedgerID, reason: String, path: String? = nil) throws -> PatchLedgerEntry {
        try apply(.quarantine(reason: reason, path: path), id)
    }

    /// Abandons a patch.
    @discardableResult
    public func drop(_ id: LedgerID, reason: String) throws -> PatchLedgerEntry { try apply(.drop(reason: reason), id) }

    /// Creates the entry for the patch that undoes a committed one; it goes through the same gates.
    ///
    /// - Throws: `invalidTransition` unless the original is committed.
    @discardableResult
    public func revert(_ id: LedgerID) throws -> PatchLedgerEntry {
        let original = try get(id)
        guard original.state == .committed else {
            throw SluiceError.invalidTransition(
                "revert", "patch", id.description, from: original.state.rawValue, needs: ["committed"])
        }
        return try create(
            project: original.projectID, phase: original.phaseID, workstream: original.workstreamID,
            request: original.executionRequestID,
            relations: PatchRelations(rollbackOfPatchID: original.patchID, chainID: original.relations.chainID))
    }

    /// The entry with this ledger id, or carrying this patch id. - Throws: `notFound`.
    public func get(_ id: LedgerID) throws -> PatchLedgerEntry {
        if let entry = try context.storage.patch(id) { return entry }
        if let entry = try context.storage.patch(patchID: PatchID(id.ulid)) { return entry }
        throw SluiceError.notFound("patch", id.description)
    }

    /// Entries, newest first.
    public func list(_ filter: PatchFilter = PatchFilter()) throws -> [PatchLedgerEntry] {
        try context.storage.patches(filter)
    }

    private func apply(_ event: PatchEvent, _ id: LedgerID, reason: String? = nil) throws -> PatchLedgerEntry {
        do {
            return try update(id, event, reason: reason)
        } catch let error as SluiceError where error.code == .notFound {
            // The caller may have named the patch by its patch id.
            guard let entry = try context.storage.patch(patchID: PatchID(id.ulid)) else { throw error }
            return try update(entry.ledgerID, event, reason: reason)
        }
    }

    /// One transition, in one transaction: `reason` (else the event's own) goes to the history;
    /// `only` narrows the states the operation is accepted from.
    private func update(
        _ ledgerID: LedgerID, _ event: PatchEvent, reason: String? = nil, operation: String? = nil,
        only states: [PatchState]? = nil
    ) throws -> PatchLedgerEntry {
        let context = self.context
        let name = operation ?? event.name
        return try context.storage.updatePatch(ledgerID) { current in
            if let states, !states.contains(current.state) {
                throw SluiceError.invalidTransition(
                    name, "patch", ledgerID.description, from: current.state.rawValue, needs: states.map(\.rawValue))
            }
            let now = context.clock.now()
            var next = try current.applying(event, at: now)
            if let reason { next.stateHistory[next.stateHistory.count - 1].reason = reason }
            return (
                next,
                context.event(
                    .patch, ledgerID.description, from: current.state.rawValue, to: next.state.rawValue,
                    reason: reason ?? event.reason, at: now, payload: ["operation": .string(name)])
            )
        }
    }
}
