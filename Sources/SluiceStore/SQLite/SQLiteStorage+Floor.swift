import GRDB
import SluiceCore

extension SQLiteStorage {
    /// Runs patch lifecycles (create, then validate → queue → apply → verify → commit) with the
    /// very statements a transition runs — BEGIN IMMEDIATE, read the entry, read its history,
    /// UPDATE with the compare-and-set, INSERT the event, COMMIT — binding the same number of
    /// values, but with every value fixed in advance and no row decoded.
    ///
    /// This is the cost of a transition's SQL and of reaching SQLite from Swift, without the
    /// domain work (decoding, checking the transition, building the event and the record): the
    /// benchmark reports it beside the full path so the two can be compared on one machine.
    ///
    /// It writes made-up patches, so it refuses to run on a database file.
    ///
    /// - Returns: the number of transitions written (six per lifecycle, counting the create).
    /// - Throws: `invalidInput` on a file database.
    public func runTransitionFloor(lifecycles: Int) throws -> Int {
        guard path == nil else {
            throw SluiceError.invalidInput(
                "the transition floor runs on an in-memory database only, not on \(path ?? "")")
        }
        let ids = ULIDGenerator()
        let states = ["created", "validated", "queued", "applied", "verified", "committed"]
        let at = "2026-01-01T00:00:00.000Z"
        for _ in 0..<lifecycles {
            let ledgerID = ids.next().description
            let patchID = ids.next().description
            try write { db in
                var insert = try RawStatement(db, Self.patchInsert)
                for value in [ledgerID, patchID, "bench", nil, nil, nil, states[0]] { insert.bind(value) }
                for _ in 0..<5 { insert.bind(false) }
                insert.bind("[]")
                insert.bind(0)
                for _ in 0..<4 { insert.bind(nil as String?) }
                insert.bind("[]")
                insert.bind(false)
                for _ in 0..<6 { insert.bind(nil as String?) }
                insert.bind(at)
                insert.bind(at)
                try insert.execute()
                try Self.floorEvent(db, ledgerID, from: nil, to: states[0], at: at)
            }
            for step in 1..<states.count {
                try write { db in
                    var select = try RawStatement(db, Self.patchByLedgerID)
                    select.bind(ledgerID)
                    while try select.step() {}
                    var history = try RawStatement(db, Self.historySelect)
                    history.bind(ledgerID)
                    while try history.step() {}
                    var update = try RawStatement(db, Self.patchUpdate)
                    update.bind(states[step])
                    for _ in 0..<5 { update.bind(true) }
                    update.bind("[]")
                    update.bind(1)
                    for _ in 0..<3 { update.bind(nil as String?) }
                    update.bind("/tmp/ws")
                    update.bind(#"["a.swift"]"#)
                    update.bind(false)
                    for _ in 0..<3 { update.bind(nil as String?) }
                    update.bind(at)
                    update.bind(ledgerID)
                    update.bind(states[step - 1])
                    try update.execute()
                    guard db.changesCount == 1 else {
                        throw SluiceError(code: .lostRace, message: "the floor's compare-and-set failed")
                    }
                    try Self.floorEvent(db, ledgerID, from: states[step - 1], to: states[step], at: at)
                }
            }
        }
        return lifecycles * states.count
    }

    private static func floorEvent(_ db: Database, _ id: String, from: String?, to: String, at: String) throws {
        var insert = try RawStatement(db, eventInsert)
        for value in ["patch", id, from, to, nil, at, "bench", "{}"] { insert.bind(value) }
        try insert.execute()
    }
}
