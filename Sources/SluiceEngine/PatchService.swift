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
    ) async throws -> PatchLedgerEntry {
        let (entry, step) = try creating(
            project: project, patchID: patchID, phase: phase, workstream: workstream, request: request,
            relations: relations, source: source)
        try await context.storage.write(step)
        return entry
    }

    /// A ledger entry checked and made, and the step of a unit of work that stores it: for a patch
    /// stored with what it finishes (a task's attempt, under its epoch). `origin` goes to the
    /// creation event's payload (the task, worker, attempt and epoch that produced it).
    ///
    /// - Throws: `invalidInput` for an empty project, before anything is stored.
    public func creating(
        project: String, patchID: PatchID? = nil, phase: String? = nil, workstream: String? = nil,
        request: ExecutionRequestID? = nil, relations: PatchRelations = PatchRelations(), source: PatchSource? = nil,
        origin: [String: JSONValue] = [:]
    ) throws -> (PatchLedgerEntry, Step<Void>) {
        guard !project.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw SluiceError.invalidInput("a patch needs a project id")
        }
        let now = context.clock.now()
        let entry = PatchLedgerEntry(
            ledgerID: LedgerID.make(context.ids), patchID: patchID ?? PatchID.make(context.ids), projectID: project,
            phaseID: phase, workstreamID: workstream, executionRequestID: request, relations: relations, at: now)
        var payload: [String: JSONValue] = origin
        payload["patch_id"] = .string(entry.patchID.description)
        if let rollback = relations.rollbackOfPatchID {
            payload["rollback_of_patch_id"] = .string(rollback.description)
        }
        if let source {
            payload["sha256"] = .string(source.sha256)
            payload["priority"] = .string(source.priority.rawValue)
        }
        let event = context.event(
            .patch, entry.ledgerID.description, from: nil, to: PatchState.created.rawValue, at: now, payload: payload)
        return (entry, { tx in try tx.insertPatch(entry, event: event, source: source) })
    }

    /// Records the checks: → `validated` when all pass, else → `apply_failed` with the errors.
    ///
    /// - Parameter note: recorded as the transition's reason when the checks pass (why a valid
    ///   patch is held, for example).
    @discardableResult
    public func validate(
        _ id: LedgerID, formatOK: Bool, scopeOK: Bool, constraintsOK: Bool, errors: [String] = [], note: String? = nil
    ) async throws -> PatchLedgerEntry {
        var errors = errors
        if errors.isEmpty {
            if !formatOK { errors.append("format: the patch is not well formed") }
            if !scopeOK { errors.append("scope: the patch touches paths outside its scope") }
            if !constraintsOK { errors.append("constraints: the patch breaks a constraint") }
        }
        return try await apply(
            .validate(formatOK: formatOK, scopeOK: scopeOK, constraintsOK: constraintsOK, errors: errors), id,
            reason: errors.isEmpty ? note : nil)
    }

    /// A person approves a validated patch (one held for review, or with `--hold`): it is queued, with
    /// the person as the event's actor.
    ///
    /// - Throws: `invalidInput` for an empty name; `invalidTransition` unless the patch is validated.
    @discardableResult
    public func approve(_ id: LedgerID, by person: String) async throws -> PatchLedgerEntry {
        let person = try PatchService.person(person, whenEmpty: "an approval needs the approver's name (--by)")
        var approving = self.context
        approving.actor = person
        return try await context.storage.write(
            PatchService(approving).step(
                .queue, id, reason: "approved by \(person)", operation: "approve", only: [.validated]))
    }

    /// A person's name given with `--by`, trimmed, to record as an event's actor.
    ///
    /// - Throws: `invalidInput` (`whenEmpty` for an empty one) for a name longer than 200 characters, or
    ///   with control or formatting characters (a line break, a right-to-left override) that could make
    ///   it read as another name, or another line, where it is shown.
    static func person(_ text: String, whenEmpty: String) throws -> String {
        let person = text.trimmingCharacters(in: .whitespaces)
        guard !person.isEmpty else { throw SluiceError.invalidInput(whenEmpty) }
        guard person.count <= 200,
            !person.unicodeScalars.contains(where: { [.control, .format].contains($0.properties.generalCategory) })
        else { throw SluiceError.invalidInput(badName) }
        return person
    }

    static let badName = "--by must be a name on one line, without control or formatting characters"

    /// Who approved the patch, if anyone did.
    public func approver(of id: LedgerID) async throws -> String? {
        try await context.storage.events(entityID: id.description, after: 0, limit: nil)
            .last { $0.payload["operation"] == .string("approve") }?.actor
    }

    /// Sets how soon the pipeline takes a submitted patch (`patch promote`): the priority and an event
    /// that says what it was, with `person` (when given) as the event's actor. Setting the priority it
    /// has already writes nothing.
    ///
    /// - Returns: the entry, and its priority before.
    /// - Throws: `notFound` for an unknown patch or one without a diff (made by `patch create`);
    ///   `invalidTransition` for a patch that landed, ended or is quarantined; `invalidInput` for a name
    ///   that is not one line.
    public func prioritize(_ id: LedgerID, _ priority: PatchPriority, by person: String? = nil) async throws
        -> (entry: PatchLedgerEntry, before: PatchPriority)
    {
        var acting = self.context
        if let person { acting.actor = try PatchService.person(person, whenEmpty: PatchService.badName) }
        let context = acting
        return try await context.storage.write { tx in
            guard let entry = try PatchService.find(id, in: tx) else {
                throw SluiceError.notFound("patch", id.description)
            }
            guard !entry.state.isTerminal, entry.state != .quarantined else {
                throw SluiceError(
                    code: .invalidTransition,
                    message: "cannot promote patch \(entry.ledgerID): it is \(entry.state.rawValue); only a patch "
                        + "still to land has a priority to change")
            }
            guard let source = try tx.patchSource(entry.ledgerID) else {
                throw SluiceError.notFound("submitted diff for patch", entry.ledgerID.description)
            }
            guard source.priority != priority else { return (entry, source.priority) }
            try tx.setPatchPriority(
                entry.ledgerID, priority,
                event: context.event(
                    .patch, entry.ledgerID.description, from: nil, to: nil,
                    reason: "priority \(source.priority.rawValue) → \(priority.rawValue)", at: context.clock.now(),
                    payload: [
                        "operation": .string("prioritize"), "from": .string(source.priority.rawValue),
                        "to": .string(priority.rawValue),
                    ]))
            return (entry, source.priority)
        }
    }

    /// Queues a validated patch, or re-queues one whose application failed.
    @discardableResult
    public func queue(_ id: LedgerID) async throws -> PatchLedgerEntry { try await apply(.queue, id) }

    /// Records a successful application in `workspace`.
    @discardableResult
    public func applied(_ id: LedgerID, workspace: String, files: [String]) async throws -> PatchLedgerEntry {
        guard !workspace.isEmpty else { throw SluiceError.invalidInput("a successful apply needs a workspace path") }
        return try await apply(.applySucceeded(workspacePath: workspace, files: files), id)
    }

    /// Records a successful application on `base`, with the base commit, in one unit of work.
    @discardableResult
    public func applied(_ id: LedgerID, on base: String, workspace: String, files: [String]) async throws
        -> PatchLedgerEntry
    {
        guard !workspace.isEmpty else { throw SluiceError.invalidInput("a successful apply needs a workspace path") }
        return try await recordingCommits(id, base: base, then: .applySucceeded(workspacePath: workspace, files: files))
    }

    /// Records that the gates passed on the `tested` commit, with the commit, in one unit of work.
    @discardableResult
    public func verified(_ id: LedgerID, tested: String, reason: String) async throws -> PatchLedgerEntry {
        try await recordingCommits(id, tested: tested, then: .verify(testsPassed: true, reason: reason))
    }

    /// Records that the gates passed for every patch of a landing batch, each with the commit it was
    /// made on and its own commit, in one unit of work: all of them verified, or none (one that someone
    /// moved meanwhile fails the unit).
    ///
    /// - Parameter patches: bottom first, each with its base, its commit and the reason for its history.
    public func verifiedBatch(_ patches: [(id: LedgerID, base: String, tested: String, reason: String)])
        async throws
    {
        let steps = patches.map { patch in
            (
                recordingCommits(patch.id, base: patch.base, tested: patch.tested),
                step(.verify(testsPassed: true, reason: patch.reason), patch.id, only: [.applied])
            )
        }
        try await context.storage.write { tx in
            for (commits, transition) in steps {
                try commits(tx)
                _ = try transition(tx)
            }
        }
    }

    /// Records that the branch now holds `landed`, and the patch is committed, in one unit of work.
    @discardableResult
    public func committed(_ id: LedgerID, landed: String) async throws -> PatchLedgerEntry {
        try await recordingCommits(id, landed: landed, then: .commit)
    }

    private func recordingCommits(
        _ id: LedgerID, base: String? = nil, tested: String? = nil, landed: String? = nil, then event: PatchEvent
    ) async throws -> PatchLedgerEntry {
        let commits = recordingCommits(id, base: base, tested: tested, landed: landed)
        let transition = step(event, id)
        return try await context.storage.write { tx in
            try commits(tx)
            return try transition(tx)
        }
    }

    /// Records a failed application attempt.
    @discardableResult
    public func applyFailed(_ id: LedgerID, code: String, message: String) async throws -> PatchLedgerEntry {
        try await apply(.applyFailed(errorCode: code, errorMessage: message), id)
    }

    /// Records the test outcome: passed → `verified`, else → `apply_failed`.
    @discardableResult
    public func verify(_ id: LedgerID, passed: Bool, reason: String? = nil) async throws -> PatchLedgerEntry {
        try await apply(.verify(testsPassed: passed, reason: reason ?? (passed ? "tests passed" : "tests failed")), id)
    }

    /// Marks a verified patch committed.
    @discardableResult
    public func commit(_ id: LedgerID) async throws -> PatchLedgerEntry { try await apply(.commit, id) }

    /// Rolls back an applied or verified patch. A committed patch is undone by ``revert(_:)`` instead.
    @discardableResult
    public func rollback(_ id: LedgerID, reason: String) async throws -> PatchLedgerEntry {
        do {
            return try await apply(.rollback(reason: reason), id)
        } catch let error as SluiceError where error.currentState == PatchState.committed.rawValue {
            throw SluiceError(
                code: error.code,
                message: error.message + "; a committed patch is undone by a new patch that reverts it",
                currentState: error.currentState)
        }
    }

    /// Sets a patch aside with the reason and where it is kept.
    @discardableResult
    public func quarantine(_ id: LedgerID, reason: String, path: String? = nil) async throws -> PatchLedgerEntry {
        try await apply(.quarantine(reason: reason, path: path), id)
    }

    /// Abandons a patch.
    @discardableResult
    public func drop(_ id: LedgerID, reason: String) async throws -> PatchLedgerEntry {
        try await apply(.drop(reason: reason), id)
    }

    /// Creates the entry for the patch that undoes a committed one; it goes through the same gates.
    ///
    /// - Throws: `invalidTransition` unless the original is committed.
    @discardableResult
    public func revert(_ id: LedgerID) async throws -> PatchLedgerEntry {
        let original = try await get(id)
        guard original.state == .committed else {
            throw SluiceError.invalidTransition(
                "revert", "patch", id.description, from: original.state.rawValue, needs: ["committed"])
        }
        return try await create(
            project: original.projectID, phase: original.phaseID, workstream: original.workstreamID,
            request: original.executionRequestID,
            relations: PatchRelations(rollbackOfPatchID: original.patchID, chainID: original.relations.chainID))
    }

    /// The entry with this ledger id, or carrying this patch id. - Throws: `notFound`.
    public func get(_ id: LedgerID) async throws -> PatchLedgerEntry {
        guard let entry = try await context.storage.read({ try PatchService.find(id, in: $0) }) else {
            throw SluiceError.notFound("patch", id.description)
        }
        return entry
    }

    /// Entries, newest first.
    public func list(_ filter: PatchFilter = PatchFilter()) async throws -> [PatchLedgerEntry] {
        try SluiceError.checkLimit(filter.limit)
        return try await context.storage.patches(filter)
    }

    private func apply(_ event: PatchEvent, _ id: LedgerID, reason: String? = nil) async throws -> PatchLedgerEntry {
        try await context.storage.write(step(event, id, reason: reason))
    }

    /// The entry with this ledger id, or carrying this patch id.
    static func find(_ id: LedgerID, in reader: any StorageReader) throws -> PatchLedgerEntry? {
        if let entry = try reader.patch(id) { return entry }
        return try reader.patch(patchID: PatchID(id.ulid))
    }

    /// One transition, as a step of a unit of work: `reason` (else the event's own) goes to the
    /// history; `only` narrows the states the operation is accepted from. The patch may be named by
    /// its ledger id or its patch id.
    public func step(
        _ event: PatchEvent, _ id: LedgerID, reason: String? = nil, operation: String? = nil,
        only states: [PatchState]? = nil
    ) -> Step<PatchLedgerEntry> {
        let context = self.context
        let name = operation ?? event.name
        @Sendable func change(_ ledgerID: LedgerID) -> Change<PatchLedgerEntry> {
            { current in
                if let states, !states.contains(current.state) {
                    throw SluiceError.invalidTransition(
                        name, "patch", ledgerID.description, from: current.state.rawValue,
                        needs: states.map(\.rawValue))
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
        return { tx in
            do {
                return try tx.updatePatch(id, change(id))
            } catch let error as SluiceError where error.code == .notFound {
                // The caller may have named the patch by its patch id (nothing was written).
                guard let entry = try tx.patch(patchID: PatchID(id.ulid)) else { throw error }
                return try tx.updatePatch(entry.ledgerID, change(entry.ledgerID))
            }
        }
    }

    /// Records the commits the pipeline used for a submitted patch, as a step of a unit of work; its
    /// event says which.
    public func recordingCommits(
        _ id: LedgerID, base: String? = nil, tested: String? = nil, landed: String? = nil
    ) -> Step<Void> {
        let context = self.context
        return { tx in
            var payload: [String: JSONValue] = ["operation": .string("record_commits")]
            if let base { payload["base_commit"] = .string(base) }
            if let tested { payload["tested_commit"] = .string(tested) }
            if let landed { payload["landed_commit"] = .string(landed) }
            try tx.recordCommits(
                id, base: base, tested: tested, landed: landed,
                event: context.event(
                    .patch, id.description, from: nil, to: nil, at: context.clock.now(), payload: payload))
        }
    }
}
