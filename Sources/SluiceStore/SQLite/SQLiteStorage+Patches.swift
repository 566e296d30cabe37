import Foundation
import GRDB
import SluiceCore

extension SQLiteStorage {
    static let patchColumnSet = ColumnSet([
        "ledger_id", "patch_id", "project_id", "phase_id", "workstream_id", "execution_request_id", "state",
        "format_ok", "scope_ok", "constraints_ok", "tests_ran", "tests_passed", "validation_errors", "apply_attempts",
        "last_attempt_at", "last_error_code", "last_error_message", "workspace_path", "applied_files", "is_quarantined",
        "quarantine_reason", "quarantine_path", "quarantined_at", "replaces_patch_id", "rollback_of_patch_id",
        "chain_id", "created_at", "updated_at",
    ])
    static let selectPatchByID = "SELECT \(patchColumnSet.sql) FROM patch_ledger WHERE ledger_id = ?"

    private static let patchColumns = """
        patch_id, project_id, phase_id, workstream_id, execution_request_id, state, format_ok, scope_ok,
        constraints_ok, tests_ran, tests_passed, validation_errors, apply_attempts, last_attempt_at, last_error_code,
        last_error_message, workspace_path, applied_files, is_quarantined, quarantine_reason, quarantine_path,
        quarantined_at, replaces_patch_id, rollback_of_patch_id, chain_id, created_at, updated_at
        """

    private static let patchUpdate: String = {
        let assignments = patchColumns.split(separator: ",")
            .map { "\($0.trimmingCharacters(in: .whitespacesAndNewlines)) = ?" }
            .joined(separator: ", ")
        return "UPDATE patch_ledger SET \(assignments) WHERE ledger_id = ? AND state = ?"
    }()

    private static let patchInsert =
        "INSERT INTO patch_ledger (ledger_id, \(patchColumns)) VALUES ("
        + Array(repeating: "?", count: 28).joined(separator: ", ") + ")"

    public func insertPatch(_ entry: PatchLedgerEntry, event: Event) throws {
        try write { db in
            try db.cachedStatement(sql: Self.patchInsert).execute(
                arguments: [entry.ledgerID.description] + Self.patchArguments(entry))
            try Self.append(event, db)
        }
    }

    public func updatePatch(_ id: LedgerID, _ change: Change<PatchLedgerEntry>) throws -> PatchLedgerEntry {
        try transition(
            select: Self.selectPatchByID, id: id.description, noun: "patch",
            decode: Self.decodePatch, state: { $0.state.rawValue },
            write: { db, entry, expected in
                try db.cachedStatement(sql: Self.patchUpdate).execute(
                    arguments: Self.patchArguments(entry) + [entry.ledgerID.description, expected])
            }, change: change)
    }

    public func patch(_ id: LedgerID) throws -> PatchLedgerEntry? {
        try read { db in
            try Row.fetchOne(db.cachedStatement(sql: Self.selectPatchByID), arguments: [id.description])
                .map { try Self.decodePatch(db, $0) }
        }
    }

    public func patch(patchID: PatchID) throws -> PatchLedgerEntry? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.patchColumnSet.sql) FROM patch_ledger WHERE patch_id = ?",
                arguments: [patchID.description]
            )
            .map { try Self.decodePatch(db, $0) }
        }
    }

    public func patches(_ filter: PatchFilter) throws -> [PatchLedgerEntry] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.patchColumnSet.sql) FROM patch_ledger
                    WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR state = ?2)
                      AND (?3 IS NULL OR workstream_id = ?3)
                    ORDER BY created_at DESC, ledger_id DESC
                    """, arguments: [filter.projectID, filter.state?.rawValue, filter.workstreamID]
            ).map { try Self.decodePatch(db, $0) }
        }
    }

    // MARK: - Mapping

    static func patchArguments(_ entry: PatchLedgerEntry) -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
            entry.patchID.description, entry.projectID, entry.phaseID, entry.workstreamID,
            entry.executionRequestID?.description, entry.state.rawValue, entry.validation.formatOK,
            entry.validation.scopeOK, entry.validation.constraintsOK, entry.validation.testsRan,
            entry.validation.testsPassed, entry.validation.validationErrors.jsonColumn, entry.apply.attempts,
            entry.apply.lastAttemptAt?.description, entry.apply.lastErrorCode, entry.apply.lastErrorMessage,
            entry.apply.workspacePath, entry.apply.appliedFiles.jsonColumn, entry.quarantine.isQuarantined,
            entry.quarantine.quarantineReason, entry.quarantine.quarantinePath,
            entry.quarantine.quarantinedAt?.description, entry.relations.replacesPatchID?.description,
            entry.relations.rollbackOfPatchID?.description, entry.relations.chainID, entry.createdAt.description,
            entry.updatedAt.description,
        ]
        return StatementArguments(values)
    }

    /// Decodes a row and reads the entry's state history from the event log.
    private static let historyColumns = ColumnSet(["to_state", "at", "reason"])

    static func decodePatch(_ db: Database, _ row: Row) throws -> PatchLedgerEntry {
        let row = RowReader(row, patchColumnSet)
        var entry = PatchLedgerEntry(
            ledgerID: try Column.id(row, "ledger_id"), patchID: try Column.id(row, "patch_id"),
            projectID: try Column.string(row, "project_id"), phaseID: row["phase_id"],
            workstreamID: row["workstream_id"], executionRequestID: try Column.optionalID(row, "execution_request_id"),
            relations: PatchRelations(
                replacesPatchID: try Column.optionalID(row, "replaces_patch_id"),
                rollbackOfPatchID: try Column.optionalID(row, "rollback_of_patch_id"), chainID: row["chain_id"]),
            at: try Column.timestamp(row, "created_at"))
        entry.state = try Column.enumeration(row, "state")
        entry.updatedAt = try Column.timestamp(row, "updated_at")
        entry.validation.formatOK = row["format_ok"]
        entry.validation.scopeOK = row["scope_ok"]
        entry.validation.constraintsOK = row["constraints_ok"]
        entry.validation.testsRan = row["tests_ran"]
        entry.validation.testsPassed = row["tests_passed"]
        entry.validation.validationErrors = try Column.strings(row, "validation_errors")
        entry.apply.attempts = row["apply_attempts"]
        entry.apply.lastAttemptAt = try Column.optionalTimestamp(row, "last_attempt_at")
        entry.apply.lastErrorCode = row["last_error_code"]
        entry.apply.lastErrorMessage = row["last_error_message"]
        entry.apply.workspacePath = row["workspace_path"]
        entry.apply.appliedFiles = try Column.strings(row, "applied_files")
        entry.quarantine.isQuarantined = row["is_quarantined"]
        entry.quarantine.quarantineReason = row["quarantine_reason"]
        entry.quarantine.quarantinePath = row["quarantine_path"]
        entry.quarantine.quarantinedAt = try Column.optionalTimestamp(row, "quarantined_at")
        let history = try db.cachedStatement(
            sql: """
                SELECT to_state, at, reason FROM events
                WHERE entity_kind = 'patch' AND entity_id = ? AND to_state IS NOT NULL ORDER BY seq
                """)
        entry.stateHistory = try Row.fetchAll(history, arguments: [entry.ledgerID.description]).map { row in
            let row = RowReader(row, historyColumns)
            return PatchHistoryEntry(
                state: try Column.enumeration(row, "to_state"), at: try Column.timestamp(row, "at"),
                reason: row["reason"])
        }
        return entry
    }
}
