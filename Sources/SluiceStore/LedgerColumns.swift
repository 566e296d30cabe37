import SluiceCore

/// The column lists both backends write records with, and the order their values are bound in:
/// written once, so that the SQLite and PostgreSQL rows of a record cannot drift apart.
package enum LedgerColumns {
    /// The patch columns after `ledger_id`, in the order they are bound and read.
    package static let patch = [
        "patch_id", "project_id", "phase_id", "workstream_id", "execution_request_id", "state", "format_ok", "scope_ok",
        "constraints_ok", "tests_ran", "tests_passed", "validation_errors", "apply_attempts", "last_attempt_at",
        "last_error_code", "last_error_message", "workspace_path", "applied_files", "is_quarantined",
        "quarantine_reason", "quarantine_path", "quarantined_at", "replaces_patch_id", "rollback_of_patch_id",
        "chain_id", "created_at", "updated_at",
    ]

    /// The patch columns a transition may change. Identity, ownership and relations are fixed at
    /// creation; leaving them out of the SET list spares the database the upkeep of their indexes.
    package static let mutablePatch = Array(patch[5...21]) + ["updated_at"]
}

/// Statement parameters, bound one after another in order: SQLite's statement and PostgreSQL's
/// bindings both take them, so the column values of a record are listed once (``LedgerColumns``).
package protocol ColumnBinder {
    mutating func bind(_ value: String?)
    mutating func bind(_ value: Int?)
    mutating func bind(_ value: Bool)
    /// A JSON document's text (PostgreSQL types it `json`; SQLite keeps text).
    mutating func bind(json value: String)
}

extension ColumnBinder {
    package mutating func bind<Kind>(_ value: Identifier<Kind>?) { bind(value?.description) }

    package mutating func bind(_ value: Timestamp?) { bind(value?.description) }

    /// Every patch column after `ledger_id`, in ``LedgerColumns/patch`` order.
    package mutating func bindPatchColumns(_ entry: PatchLedgerEntry) {
        bind(entry.patchID)
        bind(entry.projectID)
        bind(entry.phaseID)
        bind(entry.workstreamID)
        bind(entry.executionRequestID)
        bindMutablePatchColumns(entry, relations: true)
    }

    /// `state` … `updated_at` in ``LedgerColumns/patch`` order; the relations and `created_at` only
    /// when inserting (`relations`), so that without them it is ``LedgerColumns/mutablePatch``.
    package mutating func bindMutablePatchColumns(_ entry: PatchLedgerEntry, relations: Bool) {
        bind(entry.state.rawValue)
        bind(entry.validation.formatOK)
        bind(entry.validation.scopeOK)
        bind(entry.validation.constraintsOK)
        bind(entry.validation.testsRan)
        bind(entry.validation.testsPassed)
        bind(json: entry.validation.validationErrors.jsonColumn)
        bind(entry.apply.attempts)
        bind(entry.apply.lastAttemptAt)
        bind(entry.apply.lastErrorCode)
        bind(entry.apply.lastErrorMessage)
        bind(entry.apply.workspacePath)
        bind(json: entry.apply.appliedFiles.jsonColumn)
        bind(entry.quarantine.isQuarantined)
        bind(entry.quarantine.quarantineReason)
        bind(entry.quarantine.quarantinePath)
        bind(entry.quarantine.quarantinedAt)
        if relations {
            bind(entry.relations.replacesPatchID)
            bind(entry.relations.rollbackOfPatchID)
            bind(entry.relations.chainID)
            bind(entry.createdAt)
        }
        bind(entry.updatedAt)
    }

    /// An event's columns after `seq`: entity kind and id, from, to, reason, at, actor, payload.
    package mutating func bindEventColumns(_ event: Event) {
        bind(event.entityKind.rawValue)
        bind(event.entityID)
        bind(event.fromState)
        bind(event.toState)
        bind(event.reason)
        bind(event.at)
        bind(event.actor)
        bind(json: event.payload.isEmpty ? "{}" : JSONValue.object(event.payload).jsonText)
    }
}

extension Encodable {
    /// Compact JSON text with sorted keys, for a JSON column.
    package var jsonColumn: String {
        (try? SluiceJSON.line(self)) ?? "null"
    }
}

extension Array where Element == String {
    /// The array as JSON text, without going through `JSONEncoder`.
    package var jsonColumn: String {
        JSONValue.array(map(JSONValue.string)).jsonText
    }
}

extension Optional {
    /// The wrapped value, or `error` thrown.
    package func orThrow(_ error: @autoclosure () -> any Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
