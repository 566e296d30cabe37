import Foundation
import SluiceCore
import SluiceStore

extension PostgresTransaction {
    /// An entry's columns, then its state history from the event log as one JSON array of
    /// `[state, at, reason]` in log order (`sluice_patch_history`, migration 0006): the entry and its
    /// history in one statement.
    static let patchSelect = """
        SELECT ledger_id, \(LedgerColumns.patch.joined(separator: ", ")), sluice_patch_history(ledger_id)
        FROM patch_ledger
        """

    static let patchInsert = insertStatement("patch_ledger", columns: ["ledger_id"] + LedgerColumns.patch)
    static let patchUpdate = compareAndSetStatement(
        "patch_ledger", key: "ledger_id", columns: LedgerColumns.mutablePatch)

    func insertPatch(_ entry: PatchLedgerEntry, event: Event, source: PatchSource?) throws {
        try insertPatchRows(entry, source: source)
        pendingEvents.append(event)
    }

    /// Stores the entry's row and, for a submitted patch, its diff and commits, without an event.
    func insertPatchRows(_ entry: PatchLedgerEntry, source: PatchSource?) throws {
        var binds = Binds()
        binds.add(entry.ledgerID)
        binds.bindPatchColumns(entry)
        try execute(Self.patchInsert, binds)
        if let source {
            var content = Binds()
            content.add(source.sha256)
            content.add(bytes: source.bytes)
            content.add(Int64(source.bytes.count))
            try execute(
                "INSERT INTO patch_contents (sha256, bytes, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
                content)
            var row = Binds()
            row.add(entry.ledgerID)
            row.add(source.sha256)
            row.add(source.message)
            row.add(source.baseCommit)
            row.add(source.testedCommit)
            row.add(source.landedCommit)
            row.add(source.madeOn)
            row.add(source.author)
            row.add(source.priority.rawValue)
            try execute(
                """
                INSERT INTO patch_sources (ledger_id, sha256, message, base_commit, tested_commit, landed_commit,
                    made_on, author, priority)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                """, row)
        }
    }

    func patchSource(_ id: LedgerID) throws -> PatchSource? {
        var binds = Binds()
        binds.add(id)
        let found = try rows(
            """
            SELECT c.bytes, s.sha256, s.message, s.base_commit, s.tested_commit, s.landed_commit, s.made_on, s.author,
                s.priority
            FROM patch_sources s JOIN patch_contents c ON c.sha256 = s.sha256 WHERE s.ledger_id = $1
            """, binds
        ) { row -> PatchSource in
            let bytes = try row.bytes()
            let stored = try row.string()
            var source = PatchSource(
                bytes: bytes, message: try row.text(), baseCommit: try row.text(), testedCommit: try row.text(),
                landedCommit: try row.text(), madeOn: try row.text(), author: try row.text(),
                priority: try PatchPriority(stored: row.text()))
            guard source.sha256 == stored else {
                throw SluiceError(code: .storage, message: "the stored diff of patch \(id) does not match its SHA-256")
            }
            source.sha256 = stored
            return source
        }
        return found.first
    }

    func recordCommits(_ id: LedgerID, base: String?, tested: String?, landed: String?, event: Event) throws {
        var binds = Binds()
        binds.add(base)
        binds.add(tested)
        binds.add(landed)
        binds.add(id)
        let changed = try execute(
            """
            UPDATE patch_sources SET base_commit = coalesce($1, base_commit),
                tested_commit = coalesce($2, tested_commit), landed_commit = coalesce($3, landed_commit)
            WHERE ledger_id = $4
            """, binds)
        guard changed == 1 else { throw SluiceError.notFound("submitted patch", id.description) }
        pendingEvents.append(event)
    }

    func patchPriorities(state: PatchState) throws -> [LedgerID: PatchPriority] {
        var binds = Binds()
        binds.add(state.rawValue)
        let found = try rows(
            """
            SELECT s.ledger_id, s.priority FROM patch_ledger p JOIN patch_sources s ON s.ledger_id = p.ledger_id
            WHERE p.state = $1 AND s.priority <> 'normal'
            """, binds
        ) { row -> (LedgerID, PatchPriority) in (try row.id(), try PatchPriority(stored: row.text())) }
        return Dictionary(found, uniquingKeysWith: { first, _ in first })
    }

    func setPatchPriority(_ id: LedgerID, _ priority: PatchPriority, event: Event) throws {
        var binds = Binds()
        binds.add(priority.rawValue)
        binds.add(id)
        let changed = try execute("UPDATE patch_sources SET priority = $1 WHERE ledger_id = $2", binds)
        guard changed == 1 else { throw SluiceError.notFound("submitted patch", id.description) }
        pendingEvents.append(event)
    }

    func updatePatch(_ id: LedgerID, _ change: Change<PatchLedgerEntry>) throws -> PatchLedgerEntry {
        try transition(
            id: id.description, noun: "patch", table: "patch_ledger", key: "ledger_id",
            load: { try patch(id) }, state: { $0.state.rawValue },
            write: { entry, expected in
                var binds = Binds()
                binds.bindMutablePatchColumns(entry, relations: false)
                binds.add(entry.ledgerID)
                binds.add(expected)
                return try execute(Self.patchUpdate, binds)
            }, change: change)
    }

    func patch(_ id: LedgerID) throws -> PatchLedgerEntry? {
        var binds = Binds()
        binds.add(id)
        return try fetchPatches("\(Self.patchSelect) WHERE ledger_id = $1", binds).first
    }

    func patch(patchID: PatchID) throws -> PatchLedgerEntry? {
        var binds = Binds()
        binds.add(patchID)
        return try fetchPatches("\(Self.patchSelect) WHERE patch_id = $1", binds).first
    }

    func patches(_ filter: PatchFilter) throws -> [PatchLedgerEntry] {
        var binds = Binds()
        var terms: [String] = []
        for (column, value) in [
            ("project_id", filter.projectID), ("state", filter.state?.rawValue), ("workstream_id", filter.workstreamID),
        ] {
            guard let value else { continue }
            binds.add(value)
            terms.append("\(column) = $\(binds.count)")
        }
        var sql = Self.patchSelect + (terms.isEmpty ? "" : " WHERE " + terms.joined(separator: " AND "))
        sql += " ORDER BY created_at DESC, ledger_id DESC"
        if let limit = filter.limit {
            binds.add(Int64(max(0, limit)))
            sql += " LIMIT $\(binds.count)"
        }
        return try fetchPatches(sql, binds)
    }

    // MARK: - Mapping

    /// Reads the entries a `patchSelect … WHERE …` statement selects, each with its state history
    /// from the event log and the unit's pending events.
    private func fetchPatches(_ sql: String, _ binds: Binds) throws -> [PatchLedgerEntry] {
        var entries = try rows(sql, binds) { row in
            var entry = try Self.decodePatch(&row)
            entry.stateHistory = try Self.decodeHistory(row.text(), of: entry.ledgerID)
            return entry
        }
        guard !entries.isEmpty, pendingEvents.contains(where: { $0.entityKind == .patch }) else { return entries }
        var pending: [String: [PatchHistoryEntry]] = [:]
        for event in pendingEvents where event.entityKind == .patch {
            guard let to = event.toState else { continue }
            let state = try PatchState(rawValue: to).orThrow(
                SluiceError.invalidInput("an event of patch \(event.entityID) names an unknown state \(to)"))
            pending[event.entityID, default: []].append(
                PatchHistoryEntry(state: state, at: event.at, reason: event.reason))
        }
        for index in entries.indices {
            entries[index].stateHistory += pending[entries[index].ledgerID.description] ?? []
        }
        return entries
    }

    /// A history as `patchSelect` reads it: nil (no events yet) or `[[state, at, reason], …]`.
    private static func decodeHistory(_ json: String?, of id: LedgerID) throws -> [PatchHistoryEntry] {
        guard let json else { return [] }
        let rows = try SluiceJSON.decode([[String?]].self, from: Data(json.utf8), what: "the history of patch \(id)")
        return try rows.map { row in
            guard row.count == 3, let state = row[0].flatMap(PatchState.init(rawValue:)), let at = row[1] else {
                throw SluiceError(code: .storage, message: "the event log holds a malformed state of patch \(id)")
            }
            return PatchHistoryEntry(state: state, at: try Timestamp(parsing: at), reason: row[2])
        }
    }

    private static func decodePatch(_ row: inout Cells) throws -> PatchLedgerEntry {
        var entry = PatchLedgerEntry(
            ledgerID: try row.id(), patchID: try row.id(), projectID: try row.string(), phaseID: try row.text(),
            workstreamID: try row.text(), executionRequestID: try row.optionalID(), at: Timestamp(milliseconds: 0))
        entry.state = try row.enumeration()
        entry.validation.formatOK = try row.bool()
        entry.validation.scopeOK = try row.bool()
        entry.validation.constraintsOK = try row.bool()
        entry.validation.testsRan = try row.bool()
        entry.validation.testsPassed = try row.bool()
        entry.validation.validationErrors = try row.strings()
        entry.apply.attempts = try row.int()
        entry.apply.lastAttemptAt = try row.optionalTimestamp()
        entry.apply.lastErrorCode = try row.text()
        entry.apply.lastErrorMessage = try row.text()
        entry.apply.workspacePath = try row.text()
        entry.apply.appliedFiles = try row.strings()
        entry.quarantine.isQuarantined = try row.bool()
        entry.quarantine.quarantineReason = try row.text()
        entry.quarantine.quarantinePath = try row.text()
        entry.quarantine.quarantinedAt = try row.optionalTimestamp()
        entry.relations.replacesPatchID = try row.optionalID()
        entry.relations.rollbackOfPatchID = try row.optionalID()
        entry.relations.chainID = try row.text()
        entry.createdAt = try row.timestamp()
        entry.updatedAt = try row.timestamp()
        return entry
    }
}
