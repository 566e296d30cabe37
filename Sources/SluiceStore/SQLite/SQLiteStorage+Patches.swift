import Foundation
import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let patchSelect = "SELECT ledger_id, \(LedgerColumns.patch.joined(separator: ", ")) FROM patch_ledger"
    /// Built once: every transition reads its entry through it.
    static let patchByLedgerID = patchSelect + " WHERE ledger_id = ?"
    static let patchByPatchID = patchSelect + " WHERE patch_id = ?"

    static let patchInsert =
        "INSERT INTO patch_ledger (ledger_id, \(LedgerColumns.patch.joined(separator: ", "))) VALUES ("
        + Array(repeating: "?", count: LedgerColumns.patch.count + 1).joined(separator: ", ") + ")"

    static let patchUpdate =
        "UPDATE patch_ledger SET \(LedgerColumns.mutablePatch.map { "\($0) = ?" }.joined(separator: ", "))"
        + " WHERE ledger_id = ? AND state = ?"

    static let historySelect = """
        SELECT to_state, at, reason FROM events
        WHERE entity_kind = 'patch' AND entity_id = ? AND to_state IS NOT NULL ORDER BY seq
        """

    package func insertPatch(_ entry: PatchLedgerEntry, event: Event, source: PatchSource?) throws {
        try insertPatchRows(entry, source: source)
        try Self.append(event, db)
    }

    /// Stores the entry's row and, for a submitted patch, its diff and commits, without an event.
    func insertPatchRows(_ entry: PatchLedgerEntry, source: PatchSource?) throws {
        var insert = try RawStatement(db, Self.patchInsert)
        insert.bind(entry.ledgerID)
        insert.bindPatchColumns(entry)
        try insert.execute()
        if let source {
            try db.execute(
                sql:
                    "INSERT INTO patch_contents (sha256, bytes, size) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                arguments: [source.sha256, Data(source.bytes), source.bytes.count])
            try db.execute(
                sql: """
                    INSERT INTO patch_sources (ledger_id, sha256, message, base_commit, tested_commit, landed_commit,
                        made_on, author, priority)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    entry.ledgerID.description, source.sha256, source.message, source.baseCommit,
                    source.testedCommit, source.landedCommit, source.madeOn, source.author, source.priority.rawValue,
                ])
        }
    }

    package func patchSource(_ id: LedgerID) throws -> PatchSource? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT c.bytes, s.sha256, s.message, s.base_commit, s.tested_commit, s.landed_commit,
                            s.made_on, s.author, s.priority
                        FROM patch_sources s JOIN patch_contents c ON c.sha256 = s.sha256 WHERE s.ledger_id = ?
                        """), arguments: [id.description])
        else { return nil }
        let bytes: Data = row["bytes"]
        var source = PatchSource(
            bytes: Array(bytes), message: row["message"], baseCommit: row["base_commit"],
            testedCommit: row["tested_commit"], landedCommit: row["landed_commit"], madeOn: row["made_on"],
            author: row["author"], priority: try PatchPriority(stored: row["priority"]))
        let stored: String = row["sha256"]
        guard source.sha256 == stored else {
            throw SluiceError(code: .storage, message: "the stored diff of patch \(id) does not match its SHA-256")
        }
        source.sha256 = stored
        return source
    }

    package func recordCommits(_ id: LedgerID, base: String?, tested: String?, landed: String?, event: Event) throws {
        try db.execute(
            sql: """
                UPDATE patch_sources SET base_commit = coalesce(?, base_commit),
                    tested_commit = coalesce(?, tested_commit), landed_commit = coalesce(?, landed_commit)
                WHERE ledger_id = ?
                """, arguments: [base, tested, landed, id.description])
        guard db.changesCount == 1 else { throw SluiceError.notFound("submitted patch", id.description) }
        try Self.append(event, db)
    }

    package func patchPriorities(state: PatchState) throws -> [LedgerID: PatchPriority] {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT s.ledger_id, s.priority FROM patch_ledger p JOIN patch_sources s ON s.ledger_id = p.ledger_id
                    WHERE p.state = ? AND s.priority <> 'normal'
                    """), arguments: [state.rawValue])
        var priorities: [LedgerID: PatchPriority] = [:]
        for row in rows {
            priorities[try LedgerID(parsing: row["ledger_id"])] = try PatchPriority(stored: row["priority"])
        }
        return priorities
    }

    package func setPatchPriority(_ id: LedgerID, _ priority: PatchPriority, event: Event) throws {
        try db.execute(
            sql: "UPDATE patch_sources SET priority = ? WHERE ledger_id = ?",
            arguments: [priority.rawValue, id.description])
        guard db.changesCount == 1 else { throw SluiceError.notFound("submitted patch", id.description) }
        try Self.append(event, db)
    }

    package func updatePatch(_ id: LedgerID, _ change: Change<PatchLedgerEntry>) throws -> PatchLedgerEntry {
        try transition(
            id: id.description, noun: "patch",
            load: { db in try Self.fetchPatches(db, Self.patchByLedgerID, [id.description]).first },
            state: { $0.state.rawValue },
            write: { db, entry, expected in
                var update = try RawStatement(db, Self.patchUpdate)
                update.bindMutablePatchColumns(entry, relations: false)
                update.bind(entry.ledgerID)
                update.bind(expected)
                try update.execute()
            }, change: change)
    }

    package func patch(_ id: LedgerID) throws -> PatchLedgerEntry? {
        try Self.fetchPatches(db, Self.patchByLedgerID, [id.description]).first
    }

    package func patch(patchID: PatchID) throws -> PatchLedgerEntry? {
        try Self.fetchPatches(db, Self.patchByPatchID, [patchID.description]).first
    }

    package func patches(_ filter: PatchFilter) throws -> [PatchLedgerEntry] {
        var conditions = Conditions()
        conditions.equal("project_id", filter.projectID)
        conditions.equal("state", filter.state?.rawValue)
        conditions.equal("workstream_id", filter.workstreamID)
        let limit = filter.limit.map { " LIMIT \(max(0, $0))" } ?? ""
        return try Self.fetchPatches(
            db, "\(Self.patchSelect) \(conditions.sql) ORDER BY created_at DESC, ledger_id DESC\(limit)",
            conditions.arguments)
    }

    // MARK: - Mapping

    /// Reads the entries a `patchSelect … WHERE …` statement selects, each with its state history
    /// from the event log.
    private static func fetchPatches(_ db: Database, _ sql: String, _ arguments: [String?]) throws
        -> [PatchLedgerEntry]
    {
        var select = try RawStatement(db, sql)
        for argument in arguments { select.bind(argument) }
        var entries: [PatchLedgerEntry] = []
        defer { select.finish() }
        while try select.step() {
            entries.append(try decodePatch(&select))
        }
        select.finish()
        if entries.count == 1 {
            entries[0].stateHistory = try history(db, entries[0].ledgerID)
        } else if !entries.isEmpty {
            let histories = try Self.histories(db, entries.map(\.ledgerID.description))
            for index in entries.indices {
                entries[index].stateHistory = histories[entries[index].ledgerID.description] ?? []
            }
        }
        return entries
    }

    /// The histories of many entries, read a few hundred entries per statement rather than one
    /// statement per entry.
    private static func histories(_ db: Database, _ ids: [String]) throws -> [String: [PatchHistoryEntry]] {
        var histories: [String: [PatchHistoryEntry]] = [:]
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(ids.count, start + 500)]
            start += chunk.count
            var select = try RawStatement(
                db,
                """
                SELECT entity_id, to_state, at, reason FROM events
                WHERE entity_kind = 'patch' AND to_state IS NOT NULL
                    AND entity_id IN (\(Array(repeating: "?", count: chunk.count).joined(separator: ", ")))
                ORDER BY seq
                """)
            for id in chunk { select.bind(id) }
            defer { select.finish() }
            while try select.step() {
                let id = try select.nextString("entity_id")
                histories[id, default: []].append(
                    PatchHistoryEntry(
                        state: try select.nextEnum("to_state"), at: try select.nextTimestamp("at"),
                        reason: select.nextText()))
            }
        }
        return histories
    }

    private static func decodePatch(_ row: inout RawStatement) throws -> PatchLedgerEntry {
        var entry = PatchLedgerEntry(
            ledgerID: try row.nextID("ledger_id"), patchID: try row.nextID("patch_id"),
            projectID: try row.nextString("project_id"), phaseID: row.nextText(), workstreamID: row.nextText(),
            executionRequestID: try row.nextOptionalID(), at: Timestamp(milliseconds: 0))
        entry.stateHistory = []
        entry.state = try row.nextEnum("state")
        entry.validation.formatOK = row.nextBool()
        entry.validation.scopeOK = row.nextBool()
        entry.validation.constraintsOK = row.nextBool()
        entry.validation.testsRan = row.nextBool()
        entry.validation.testsPassed = row.nextBool()
        entry.validation.validationErrors = try row.nextStrings("validation_errors")
        entry.apply.attempts = row.nextInt() ?? 0
        entry.apply.lastAttemptAt = try row.nextOptionalTimestamp()
        entry.apply.lastErrorCode = row.nextText()
        entry.apply.lastErrorMessage = row.nextText()
        entry.apply.workspacePath = row.nextText()
        entry.apply.appliedFiles = try row.nextStrings("applied_files")
        entry.quarantine.isQuarantined = row.nextBool()
        entry.quarantine.quarantineReason = row.nextText()
        entry.quarantine.quarantinePath = row.nextText()
        entry.quarantine.quarantinedAt = try row.nextOptionalTimestamp()
        entry.relations.replacesPatchID = try row.nextOptionalID()
        entry.relations.rollbackOfPatchID = try row.nextOptionalID()
        entry.relations.chainID = row.nextText()
        entry.createdAt = try row.nextTimestamp("created_at")
        entry.updatedAt = try row.nextTimestamp("updated_at")
        return entry
    }

    private static func history(_ db: Database, _ id: LedgerID) throws -> [PatchHistoryEntry] {
        var select = try RawStatement(db, historySelect)
        select.bind(id)
        defer { select.finish() }
        var history: [PatchHistoryEntry] = []
        while try select.step() {
            history.append(
                PatchHistoryEntry(
                    state: try select.nextEnum("to_state"), at: try select.nextTimestamp("at"),
                    reason: select.nextText()))
        }
        return history
    }
}
