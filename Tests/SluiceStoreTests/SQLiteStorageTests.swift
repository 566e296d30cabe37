import Foundation
import GRDB
import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

/// What is particular to the SQLite backend: connection settings, migrations, schema guards.
@Suite("SQLite storage")
struct SQLiteStorageTests {
    @Test("a file database runs in WAL mode with synchronous=FULL, foreign keys and a busy timeout")
    func pragmas() throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"))
        #expect(try storage.pragma("journal_mode") == "wal")
        #expect(try storage.pragma("synchronous") == "2")
        #expect(try storage.pragma("foreign_keys") == "1")
        #expect(try Int(storage.pragma("busy_timeout") ?? "0") ?? 0 >= 1000)
    }

    @Test("synchronous can be relaxed to NORMAL explicitly")
    func synchronousNormal() throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"), options: .init(synchronous: .normal))
        #expect(try storage.pragma("synchronous") == "1")
    }

    @Test("migrations are applied in order, recorded, and not applied twice")
    func migrations() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.db")
        let first = try SQLiteStorage(path: path)
        #expect(
            try first.appliedMigrations() == [
                "0001_initial", "0002_patch_contents", "0003_patch_origin", "0004_tasks", "0005_budgets",
                "0006_cost_daily", "0007_unpriced", "0008_currency_rates", "0009_gate_holds", "0010_patch_priority",
                "0011_test_quarantines",
            ])
        let again = try SQLiteStorage(path: path)
        #expect(
            try again.appliedMigrations() == [
                "0001_initial", "0002_patch_contents", "0003_patch_origin", "0004_tasks", "0005_budgets",
                "0006_cost_daily", "0007_unpriced", "0008_currency_rates", "0009_gate_holds", "0010_patch_priority",
                "0011_test_quarantines",
            ])
    }

    @Test("migration 0004 rebuilds the event log with every event, its number and its append-only rules")
    func tasksMigrationKeepsEvents() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("old.db")
        do {
            // A ledger as the previous release left it: migrations 0001 to 0003, and events numbered 5 and 9.
            let queue = try DatabaseQueue(path: path)
            var migrator = DatabaseMigrator()
            for (name, sql) in SQLiteStorage.migrations.prefix(3) {
                migrator.registerMigration(name) { db in try db.execute(sql: sql) }
            }
            try migrator.migrate(queue)
            try queue.inDatabase { db in
                for seq in [5, 9] {
                    try db.execute(
                        sql: """
                            INSERT INTO events (seq, entity_kind, entity_id, at, actor, payload)
                            VALUES (?, 'worker', 'w', '2026-01-01T00:00:00.000Z', 'old', '{"n": 1}')
                            """, arguments: [seq])
                }
            }
        }
        let storage = try SQLiteStorage(path: path)
        #expect(try await storage.appliedMigrations().last == "0011_test_quarantines")
        let events = try await storage.events(entityID: nil, after: 0, limit: nil)
        #expect(events.map(\.sequence) == [5, 9] && events.allSatisfy { $0.actor == "old" })
        try await storage.append(
            Event(
                entityKind: .task, entityID: "t", fromState: nil, toState: "queued", reason: nil,
                at: Timestamp(milliseconds: 0), actor: "new"))
        #expect(try await storage.events(entityID: nil, after: 9, limit: nil).map(\.sequence) == [10])
        let raw = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) {
            try raw.inDatabase { try $0.execute(sql: "UPDATE events SET actor = 'x'") }
        }
        #expect(throws: DatabaseError.self) { try raw.inDatabase { try $0.execute(sql: "DELETE FROM events") } }
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).count == 3)
    }

    @Test("migration 0007 takes the zero out of unpriced records and keeps every sum and rule")
    func unpricedMigration() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("old.db")
        let unpricedID = CostID.make()
        let pricedID = CostID.make()
        let labelledID = CostID.make()
        do {
            // A ledger as migration 0006 left it: an unpriced record stored with amount 0, and a priced one.
            let queue = try DatabaseQueue(path: path)
            var migrator = DatabaseMigrator()
            for (name, sql) in SQLiteStorage.migrations.prefix(6) {
                migrator.registerMigration(name) { db in try db.execute(sql: sql) }
            }
            try migrator.migrate(queue)
            try queue.inDatabase { db in
                // The third says unpriced in metadata anyone can write, but has an amount: it keeps it.
                for (id, units, source) in [
                    (unpricedID, 0, "unpriced"), (pricedID, 2_500_000_000, "priced"),
                    (labelledID, 5_000_000_000, "unpriced"),
                ] {
                    try db.execute(
                        sql: """
                            INSERT INTO costs (cost_id, project_id, resource_type, resource_name, amount_units,
                                currency, recorded_at, metadata)
                            VALUES (?, 'p', 'api_call', 'm', ?, 'USD', '2026-05-01T10:00:00.000Z', ?)
                            """, arguments: [id.description, units, "{\"amount_source\": \"\(source)\"}"])
                }
            }
        }
        let storage = try SQLiteStorage(path: path)
        #expect(try await storage.cost(unpricedID)?.amount == nil)
        #expect(try await storage.cost(pricedID)?.amount == ExactDecimal(units: 2_500_000_000))
        #expect(
            try await storage.costTotals(CostFilter())
                == [CostTotal(currency: .usd, amount: ExactDecimal(units: 7_500_000_000), count: 3)])
        #expect(try await storage.cost(labelledID)?.amount == ExactDecimal(units: 5_000_000_000))
        let report = try await storage.read { try $0.costReport(by: .project, try CostReportRange()) }
        #expect(report.map(\.unpriced) == [1] && report.map(\.records) == [3])
        // The rebuilt table keeps its rules: records are immutable, negative amounts refused.
        let raw = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) {
            try raw.inDatabase { try $0.execute(sql: "UPDATE costs SET amount_units = 1") }
        }
        #expect(throws: DatabaseError.self) {
            try raw.inDatabase {
                try $0.execute(
                    sql: """
                        INSERT INTO costs (cost_id, resource_type, amount_units, currency, recorded_at)
                        VALUES ('\(CostID.make())', 'api_call', -1, 'USD', '2026-05-01T10:00:00.000Z')
                        """)
            }
        }
        // And its triggers: a new unpriced record is counted, a deleted one leaves the counts.
        let fresh = try CostRecord(
            costID: .make(), projectID: "p", resourceType: .apiCall, resourceName: "m", amount: nil, currency: .usd,
            recordedAt: try Timestamp(parsing: "2026-05-01T11:00:00.000Z"))
        try await storage.insertCost(
            fresh,
            event: Event(
                entityKind: .cost, entityID: fresh.costID.description, fromState: nil, toState: "recorded",
                reason: nil, at: fresh.recordedAt, actor: "t"))
        _ = try await storage.deleteCost(unpricedID) { record in
            Event(
                entityKind: .cost, entityID: record.costID.description, fromState: "recorded", toState: "deleted",
                reason: nil, at: fresh.recordedAt, actor: "t")
        }
        let after = try await storage.read { try $0.costReport(by: .model, try CostReportRange()) }
        #expect(after.map(\.unpriced) == [1] && after.map(\.records) == [3])
        #expect(after.map(\.amount) == [ExactDecimal(units: 7_500_000_000)])
    }

    @Test("a priority outside the four names cannot be written, even by hand")
    func priorityCheck() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.db")
        let storage = try SQLiteStorage(path: path)
        let entry = PatchLedgerEntry(
            ledgerID: .make(), patchID: .make(), projectID: "p", at: Timestamp(milliseconds: 0))
        try await storage.insertPatch(
            entry,
            event: Event(
                entityKind: .patch, entityID: entry.ledgerID.description, fromState: nil, toState: "created",
                reason: nil, at: entry.createdAt, actor: "t"), source: PatchSource(bytes: [0x41]))
        #expect(throws: DatabaseError.self) {
            try self.rawConnection(path).write { try $0.execute(sql: "UPDATE patch_sources SET priority = 'now'") }
        }
        #expect(try await storage.patchSource(entry.ledgerID)?.priority == .normal)
    }

    @Test("the migrations compiled in are the released SQL, byte for byte, under their released names")
    func embeddedMigrations() {
        // SHA-256 of Migrations/0001_initial.sql and 0002_patch_contents.sql as released, and of 0003 and 0004 as written.
        let released = [
            ("0001_initial", "d6d580700a0e195752b1e1d55bb5a9d7916b43304186ec15430dfa7022b5a35f"),
            ("0002_patch_contents", "ce1da4347acce83705bfabd05d6556fb0935bb613b13c68df079cb466cff5c6f"),
            ("0003_patch_origin", "fde46378c73eab2506a01adde410250eb41271c72bab93a93234b413e96fc24c"),
            ("0004_tasks", "4a370a50bcbb5227bec0ed1d055e03fa54df004f4f9b6fba50ef4d7c8fd2c78f"),
            ("0005_budgets", "a5d2b19b92a196f7c3c67b6b6dc64a52d66def0a77f01b4b45eef96792ac4051"),
            ("0006_cost_daily", "b03929e2a17336ca258d276c932f1c91c6b780723e478caa1d1f5a4ebc1527b8"),
            ("0007_unpriced", "89dc0a656fbc5e89f589df8ec987a681d6d79eefe66354f0b2ab9481c18f7560"),
            ("0008_currency_rates", "bd486ac51f06f2820243e4f84414d3c0dfe1ba4560b14c97133d0ff8b0f74d93"),
            ("0009_gate_holds", "536fb83e938206bb19076a34961667b9cf91853feff5e23b04456a79ea022a2a"),
            ("0010_patch_priority", "952fbd9cc8858ba5dd3117c0033ce701990b962d4d07a412a585f6dfa7f9a609"),
            ("0011_test_quarantines", "a8f17b9a60ed96fd6b77ccdd3b013c049c1b99e2cb549f240904e121ce127202"),
        ]
        let embedded = SQLiteStorage.migrations.map { ($0.name, SHA256.hex(Array($0.sql.utf8))) }
        #expect(embedded.map(\.0) == released.map(\.0))
        #expect(embedded.map(\.1) == released.map(\.1))
    }

    @Test("a running sum an earlier version let overflow into a float is reported, not a crash")
    func damagedTotal() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.db")
        _ = try SQLiteStorage(path: path)
        // Written behind the storage's back, as an earlier version could: SQLite turns the sum into a REAL.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            for (id, project) in [("01ARZ3NDEKTSV4RRFFQ69G5FAV", "a"), ("01ARZ3NDEKTSV4RRFFQ69G5FAW", "a")] {
                try db.execute(
                    sql: """
                        INSERT INTO costs (cost_id, project_id, resource_type, amount_units, currency, recorded_at,
                            metadata) VALUES (?, ?, 'api_call', 9000000000000000000, 'USD', '2026-01-01T00:00:00.000Z', '{}')
                        """, arguments: [id, project])
            }
        }
        try queue.close()
        let storage = try SQLiteStorage(path: path)
        await #expect {
            try await storage.costTotals(CostFilter())
        } throws: { ($0 as? SluiceError)?.code == .storage }
    }

    @Test("reads neither recompile the connection's statements nor leave a transaction open")
    func readsKeepStatementsPrepared() async throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"), options: oneReader)
        let engine = makeEngine(over: storage)
        let first = try await engine.patches.create(project: "p")
        try await engine.patches.validate(first.ledgerID, formatOK: true, scopeOK: true, constraintsOK: true)
        _ = try await engine.patches.get(first.ledgerID)
        let before = try storage.statementCounters().recompilations
        for _ in 0..<3 {
            let second = try await engine.patches.create(project: "p")
            _ = try await engine.patches.get(second.ledgerID)
            try await engine.patches.validate(second.ledgerID, formatOK: true, scopeOK: true, constraintsOK: true)
            _ = try await engine.patches.list(PatchFilter(state: .validated))
        }
        #expect(try storage.statementCounters().recompilations == before)
        // No read left its transaction open: one would hold a WAL snapshot, and a truncating
        // checkpoint from another connection would report busy (first column 1) instead of 0.
        await #expect(try engine.patches.list(PatchFilter(state: .validated)).count == 4)
        let raw = try DatabaseQueue(path: directory.file("s.db"), configuration: noWait())
        let checkpoint = try raw.writeWithoutTransaction {
            try Row.fetchOne($0, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        #expect(checkpoint?[0] == 0)
    }

    @Test("listing by a filtered column reads through its index, not a scan of the table")
    func filteredListsUseIndexes() async throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"), options: oneReader)
        let engine = makeEngine(over: storage)
        var last: PatchLedgerEntry?
        for index in 0..<30 {
            last = try await engine.patches.create(project: "p\(index % 3)", workstream: "w\(index % 5)")
        }
        let queued = try #require(last)
        try await engine.patches.validate(queued.ledgerID, formatOK: true, scopeOK: true, constraintsOK: true)
        try await engine.patches.queue(queued.ledgerID)
        try await engine.workers.create(type: .monitor)
        for index in 0..<30 {
            try await engine.workers.create(type: index == 0 ? .executor : .monitor)
            try await engine.gates.create(name: "g\(index)", type: .lint, project: "p\(index % 3)")
            try await engine.costs.record(
                type: .apiCall, amount: ExactDecimal(parsing: "0.01"), project: "p\(index % 3)")
        }
        let before = try storage.statementCounters().fullScanSteps

        await #expect(try engine.patches.list(PatchFilter(state: .queued)).map(\.ledgerID) == [queued.ledgerID])
        await #expect(try engine.patches.list(PatchFilter(projectID: "p1")).count == 10)
        await #expect(try engine.patches.list(PatchFilter(workstreamID: "w2")).count == 6)
        await #expect(try engine.events(entityID: queued.ledgerID.description).count == 3)
        await #expect(try engine.workers.list(type: .executor).count == 1)
        await #expect(try engine.workers.list(state: .idle).count == 31)
        await #expect(try engine.gates.list(GateFilter(projectID: "p2")).count == 10)
        await #expect(try engine.costs.list(CostFilter(projectID: "p0")).count == 10)
        await #expect(
            try engine.costs.total(CostFilter(projectID: "p0")).map(\.amount) == [ExactDecimal(parsing: "0.1")])
        await #expect(try engine.costs.breakdown(CostFilter(projectID: "p1")).map(\.count) == [10])
        #expect(try storage.statementCounters().fullScanSteps == before)

        // The check can fail: an unfiltered list does scan.
        await #expect(try engine.patches.list().count == 30)
        #expect(try storage.statementCounters().fullScanSteps > before)
    }

    @Test("the benchmark's transition floor writes real lifecycles, and only in memory")
    func transitionFloor() async throws {
        let storage = try SQLiteStorage(inMemory: .init())
        #expect(try storage.runTransitionFloor(lifecycles: 3) == 18)
        let entries = try await storage.patches(PatchFilter())
        #expect(entries.map(\.state) == [.committed, .committed, .committed])
        #expect(
            entries.first?.stateHistory.map(\.state) == [
                .created, .validated, .queued, .applied, .verified, .committed,
            ])
        await #expect(try storage.events(entityID: nil, after: 0, limit: nil).count == 18)

        let directory = TemporaryDirectory()
        let file = try SQLiteStorage(path: directory.file("s.db"))
        #expect(throws: SluiceError.self) { try file.runTransitionFloor(lifecycles: 1) }
        await #expect(try file.patches(PatchFilter()).isEmpty)
    }

    func noWait() -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        return configuration
    }

    @Test("a database migrated by a newer Sluice is refused and left as it is")
    func newerSchema() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.db")
        _ = try SQLiteStorage(path: path)
        try rawConnection(path).write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('0099_future')") }
        let error = #expect(throws: SluiceError.self) { try SQLiteStorage(path: path) }
        #expect(error?.code == .storage)
        #expect(error?.isNewerSchema == true)
        #expect(error?.message.contains("newer Sluice (schema 0099_future") == true, "\(error?.message ?? "")")
        let applied = try rawConnection(path).read {
            try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
        #expect(
            applied == [
                "0001_initial", "0002_patch_contents", "0003_patch_origin", "0004_tasks", "0005_budgets",
                "0006_cost_daily", "0007_unpriced", "0008_currency_rates", "0009_gate_holds", "0010_patch_priority",
                "0011_test_quarantines",
                "0099_future",
            ])
    }

    func rawConnection(_ path: String) throws -> DatabaseQueue {
        try DatabaseQueue(path: path)
    }

    func seeded() async throws -> (TemporaryDirectory, SQLiteStorage, WorkerID) {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"))
        let engine = makeEngine(over: storage)
        let worker = try await engine.workers.create(type: .executor)
        return (directory, storage, worker.workerID)
    }

    @Test("the event log refuses updates and deletes")
    func appendOnly() async throws {
        let (directory, _, _) = try await seeded()
        let raw = try rawConnection(directory.file("s.db"))
        #expect(throws: DatabaseError.self) { try raw.write { try $0.execute(sql: "UPDATE events SET reason = 'x'") } }
        #expect(throws: DatabaseError.self) { try raw.write { try $0.execute(sql: "DELETE FROM events") } }
        await #expect(try raw.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } == 1)
    }

    @Test("CHECK constraints refuse unknown enum values and inconsistent rows")
    func checks() async throws {
        let (directory, _, id) = try await seeded()
        let raw = try rawConnection(directory.file("s.db"))
        for sql in [
            "UPDATE workers SET state = 'sleeping'",
            "UPDATE workers SET worker_type = 'robot'",
            "UPDATE workers SET state = 'idle', current_task_id = 't'",
            "UPDATE workers SET state = 'busy', current_task_id = NULL",
            "UPDATE workers SET tasks_completed = -1",
            "UPDATE workers SET metadata = '{bad'",
        ] {
            #expect(throws: DatabaseError.self, "\(sql)") { try raw.write { try $0.execute(sql: sql) } }
        }
        await #expect(
            try raw.read {
                try String.fetchOne(
                    $0, sql: "SELECT state FROM workers WHERE worker_id = ?", arguments: [id.description])
            } == "idle")
        #expect(throws: DatabaseError.self) {
            try raw.write {
                try $0.execute(
                    sql: """
                        INSERT INTO costs (cost_id, resource_type, amount_units, currency, recorded_at)
                        VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'api_call', -1, 'USD', 'x')
                        """)
            }
        }
        #expect(throws: DatabaseError.self) {
            try raw.write {
                try $0.execute(
                    sql: """
                        INSERT INTO costs (cost_id, resource_type, amount_units, currency, recorded_at)
                        VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'api_call', 1, 'usd', 'x')
                        """)
            }
        }
    }

    @Test("cost records are immutable in the table")
    func costsImmutable() async throws {
        let (directory, storage, _) = try await seeded()
        _ = try await makeEngine(over: storage).costs.record(type: .apiCall, amount: ExactDecimal(parsing: "1"))
        let raw = try rawConnection(directory.file("s.db"))
        #expect(throws: DatabaseError.self) {
            try raw.write { try $0.execute(sql: "UPDATE costs SET amount_units = 5") }
        }
    }

    @Test("a unit waits for another process's write lock, runs once it is free, and keeps the busy timeout")
    func waitsForAnotherWriter() async throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"))
        try await storage.append(logEvent("before"))
        let held = try await holdWriteLock(directory.file("s.db"))
        let finished = Shared(false)
        let unit = Task {
            try await storage.append(logEvent("waited"))
            finished.value = true
        }
        try await Task.sleep(for: .milliseconds(400))
        let finishedEarly = finished.value
        held.release()
        try await unit.value
        #expect(!finishedEarly)
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == ["before", "waited"])
        // Units that ran in place left the connection's busy timeout as it was configured.
        #expect(try storage.pragma("busy_timeout") == "30000")
    }

    @Test("units waiting for the writer commit together, each whole: one that throws is undone alone")
    func groupCommit() async throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"))
        // Another process holds the write lock: the units queue up behind it.
        let held = try await holdWriteLock(directory.file("s.db"))
        let refused = Set([3, 7, 11])
        let units = (0..<12).map { index in
            Task { () -> String? in
                do {
                    try await storage.write { tx in
                        try tx.append(logEvent("unit \(index)"))
                        try tx.append(logEvent("unit \(index) again"))
                        if refused.contains(index) { throw SluiceError.invalidInput("unit \(index) refuses") }
                    }
                    return nil
                } catch {
                    return (error as? SluiceError)?.message ?? "\(error)"
                }
            }
        }
        // Every unit waiting before the lock is let go, however slowly the machine starts them.
        let deadline = ContinuousClock.now + .seconds(120)
        while storage.unitsInFlightCount < 12, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(storage.unitsInFlightCount == 12)
        held.release()
        var outcomes: [String?] = []
        for unit in units { outcomes.append(await unit.value) }
        #expect(outcomes == (0..<12).map { refused.contains($0) ? "unit \($0) refuses" : nil })
        let logged = try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID)
        let kept = (0..<12).filter { !refused.contains($0) }
        #expect(Set(logged) == Set(kept.flatMap { ["unit \($0)", "unit \($0) again"] }))
        #expect(logged.count == kept.count * 2)
        #expect(storage.largestGroupCommit >= 2, "the waiting units shared a commit")
    }

    @Test("a unit that cannot get the write lock within the busy timeout fails in words and writes nothing")
    func busyTimeoutExpires() async throws {
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(path: directory.file("s.db"), options: .init(busyTimeout: 0.2))
        let held = try await holdWriteLock(directory.file("s.db"))
        await #expect {
            try await storage.append(logEvent("refused"))
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .storage && error?.message.contains("locked") == true
        }
        held.release()
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).isEmpty)
    }

    @Test("opening a migrated database in use and reading it do not wait for another process's write lock")
    func openWhileLocked() async throws {
        let directory = TemporaryDirectory()
        // A process that has the database open (so its write-ahead log is not empty: GRDB writes to
        // create it when it is, which no open can avoid) and another that holds the write lock.
        let running = try SQLiteStorage(path: directory.file("s.db"))
        try await running.append(logEvent("before"))
        let held = try await holdWriteLock(directory.file("s.db"))
        defer {
            held.release()
            withExtendedLifetime(running) {}
        }
        // A busy timeout far shorter than the hold: waiting for the lock anywhere would fail.
        let storage = try SQLiteStorage(path: directory.file("s.db"), options: .init(busyTimeout: 0.2))
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == ["before"])
    }

    private func logEvent(_ id: String) -> Event {
        Event(
            entityKind: .worker, entityID: id, fromState: nil, toState: nil, reason: nil,
            at: Timestamp(milliseconds: 1_767_225_600_000), actor: "test")
    }

    /// Another connection (as another process would) holding the database's write lock until released.
    private func holdWriteLock(_ path: String) async throws -> HeldWriteLock {
        let held = HeldWriteLock(try SQLiteStorage.openConnection(path: path))
        let thread = Thread { held.hold() }
        thread.start()
        while !held.taken.value { try await Task.sleep(for: .milliseconds(5)) }
        return held
    }

    @Test("an unopenable path is a storage error naming the path")
    func badPath() {
        #expect {
            try SQLiteStorage(path: "/nonexistent-dir/x/y.db")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .storage && error?.message.contains("/nonexistent-dir/x/y.db") == true
        }
    }
}

/// Every read through one connection, so its statement counters see every read.
let oneReader: SQLiteStorage.Options = {
    var options = SQLiteStorage.Options()
    options.readers = 1
    return options
}()

/// A write lock held by a connection of its own, on a thread of its own, until released.
final class HeldWriteLock: Sendable {
    let connection: DatabaseQueue
    let taken = Shared(false)
    private let released = Shared(false)

    init(_ connection: DatabaseQueue) {
        self.connection = connection
    }

    func hold() {
        try? connection.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN IMMEDIATE")
            taken.value = true
            // Held until released, however long a starved test takes to get there (ten minutes at
            // most, so a test that fails before releasing it cannot hang the run).
            let deadline = Date().addingTimeInterval(600)
            while !released.value && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
            try db.execute(sql: "COMMIT")
        }
    }

    func release() {
        released.value = true
    }
}
