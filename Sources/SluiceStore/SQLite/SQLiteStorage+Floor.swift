import GRDB
import SluiceCore

extension SQLiteStorage {
    /// Runs patch lifecycles (create, then validate → queue → apply → verify → commit) with the
    /// very statements a transition runs — BEGIN IMMEDIATE, read the entry, read its history,
    /// UPDATE with the compare-and-set, INSERT the event, COMMIT — bound by the same functions,
    /// but from one record kept in memory: no row is decoded and no transition checked.
    ///
    /// This is the cost of a transition's SQL and of reaching SQLite from Swift, without the
    /// domain work (decoding the row and its history, checking the transition, building the
    /// returned record): the benchmark reports it beside the full path, on the same machine.
    ///
    /// It writes made-up patches, so it refuses to run on a database file.
    ///
    /// - Returns: the number of transitions written (six per lifecycle, counting the create).
    /// - Throws: `invalidInput` on a file database.
    package func runTransitionFloor(lifecycles: Int) throws -> Int {
        guard path == nil else {
            throw SluiceError.invalidInput(
                "the transition floor runs on an in-memory database only, not on \(path ?? "")")
        }
        let ids = ULIDGenerator()
        let states: [PatchState] = [.created, .validated, .queued, .applied, .verified, .committed]
        let at = Timestamp(milliseconds: 1_767_225_600_000)
        for _ in 0..<lifecycles {
            var entry = PatchLedgerEntry(
                ledgerID: LedgerID(ids.next()), patchID: PatchID(ids.next()), projectID: "bench", at: at)
            try writeNow { tx in
                let db = tx.db
                var insert = try RawStatement(db, SQLiteTransaction.patchInsert)
                insert.bind(entry.ledgerID)
                insert.bindPatchColumns(entry)
                try insert.execute()
                try SQLiteTransaction.append(SQLiteStorage.floorEvent(entry, from: nil), db)
            }
            // The values a lifecycle ends with, bound at every step as a transition binds them.
            entry.validation.formatOK = true
            entry.validation.scopeOK = true
            entry.validation.constraintsOK = true
            entry.apply.attempts = 1
            entry.apply.workspacePath = "/tmp/ws"
            entry.apply.appliedFiles = ["a.swift"]
            for step in 1..<states.count {
                let expected = entry.state
                entry.state = states[step]
                try writeNow { tx in
                    let db = tx.db
                    var select = try RawStatement(db, SQLiteTransaction.patchByLedgerID)
                    select.bind(entry.ledgerID)
                    while try select.step() {}
                    var history = try RawStatement(db, SQLiteTransaction.historySelect)
                    history.bind(entry.ledgerID)
                    while try history.step() {}
                    var update = try RawStatement(db, SQLiteTransaction.patchUpdate)
                    update.bindMutablePatchColumns(entry, relations: false)
                    update.bind(entry.ledgerID)
                    update.bind(expected.rawValue)
                    try update.execute()
                    guard db.changesCount == 1 else {
                        throw SluiceError(code: .lostRace, message: "the floor's compare-and-set failed")
                    }
                    try SQLiteTransaction.append(SQLiteStorage.floorEvent(entry, from: expected), db)
                }
            }
        }
        return lifecycles * states.count
    }

    private static func floorEvent(_ entry: PatchLedgerEntry, from: PatchState?) -> Event {
        Event(
            entityKind: .patch, entityID: entry.ledgerID.description, fromState: from?.rawValue,
            toState: entry.state.rawValue, reason: nil, at: entry.updatedAt, actor: "bench")
    }
}
