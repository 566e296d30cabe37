import SluiceCore
import SluicePostgres
import SluiceStore
import SluiceTesting
import Testing

/// Every method of the storage against a real PostgreSQL database, one fresh database per test.
@Suite("PostgreSQL storage", .requiresPostgres)
struct PostgresStorageTests {
    // MARK: - Workers

    @Test("a worker round-trips, and an unknown id reads as nil")
    func workerRoundTrip() async throws {
        let storage = try await PostgresServer.makeStorage()
        let worker = try await makeWorker(storage)
        #expect(try await storage.worker(worker.workerID) == worker)
        #expect(try await storage.worker(.make()) == nil)
    }

    @Test("inserting an id twice is a conflict and changes nothing")
    func duplicate() async throws {
        let storage = try await PostgresServer.makeStorage()
        let worker = try await makeWorker(storage)
        await #expect {
            try await storage.insertWorker(
                worker, event: event(.worker, worker.workerID.description, from: nil, to: "idle"))
        } throws: { code(of: $0) == .conflict }
        #expect(try await storage.events(entityID: worker.workerID.description, after: 0, limit: nil).count == 1)
    }

    @Test("an update writes the record and appends its event in one unit")
    func update() async throws {
        let storage = try await PostgresServer.makeStorage()
        let id = try await makeWorker(storage).workerID
        let updated = try await storage.updateWorker(id) { current in
            let next = try current.applying(.assign(taskID: "t"), at: now)
            return (next, event(.worker, id.description, from: "idle", to: "busy"))
        }
        #expect(updated.state == .busy)
        #expect(try await storage.worker(id) == updated)
        let events = try await storage.events(entityID: id.description, after: 0, limit: nil)
        #expect(events.map(\.toState) == ["idle", "busy"])
        #expect(events[1].sequence > events[0].sequence)
    }

    @Test("a change that throws writes nothing, its event included")
    func throwingChange() async throws {
        let storage = try await PostgresServer.makeStorage()
        let worker = try await makeWorker(storage)
        await #expect {
            try await storage.write { tx in
                _ = try tx.updateWorker(worker.workerID) { current in
                    var next = current
                    next.state = .stopped
                    return (next, event(.worker, current.workerID.description, from: "idle", to: "stopped"))
                }
                throw SluiceError.invalidInput("second thoughts")
            }
        } throws: { code(of: $0) == .invalidInput }
        #expect(try await storage.worker(worker.workerID) == worker)
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).count == 1)
    }

    @Test("an event refused as it is sent with the COMMIT rolls back the whole unit, and the connection is reused")
    func eventRefusedAtCommit() async throws {
        let storage = try await PostgresServer.makeStorage(poolSize: 1)
        let worker = try await makeWorker(storage)
        // The database refuses one event; the unit's events are inserted together with its COMMIT.
        _ = try await storage.withRawTransaction { connection in
            try connection.execute(
                """
                CREATE FUNCTION test_refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.entity_id = 'boom' THEN RAISE EXCEPTION 'no boom here'; END IF;
                    RETURN NEW;
                END $$
                """)
            try connection.execute(
                "CREATE TRIGGER test_refuse_boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_refuse_boom()"
            )
        }
        await #expect {
            try await storage.write { tx in
                _ = try tx.updateWorker(worker.workerID) { current in
                    (
                        try current.applying(.assign(taskID: "t"), at: now),
                        event(.worker, "ok", from: "idle", to: "busy")
                    )
                }
                try tx.append(event(.worker, "boom", from: nil, to: nil))
            }
        } throws: { error in
            code(of: error) == .storage && (error as? SluiceError)?.message.contains("no boom here") == true
        }
        #expect(try await storage.worker(worker.workerID) == worker)
        #expect(
            try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == [
                worker.workerID.description
            ])
        // The one connection of the pool is clean: the next unit commits.
        try await storage.append(event(.worker, "after", from: nil, to: nil))
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).count == 2)
    }

    @Test("updating or deleting an unknown record is notFound")
    func unknown() async throws {
        let storage = try await PostgresServer.makeStorage()
        await #expect {
            try await storage.updateWorker(.make()) { ($0, event(.worker, "x", from: nil, to: nil)) }
        } throws: { code(of: $0) == .notFound }
        await #expect {
            try await storage.updatePatch(.make()) { ($0, event(.patch, "x", from: nil, to: nil)) }
        } throws: { code(of: $0) == .notFound }
        await #expect {
            try await storage.updateGate(.make()) { ($0, event(.gate, "x", from: nil, to: nil)) }
        } throws: { code(of: $0) == .notFound }
        await #expect {
            try await storage.deleteCost(.make()) { _ in event(.cost, "x", from: nil, to: nil) }
        } throws: { code(of: $0) == .notFound }
        await #expect {
            try await storage.renewLease(.make(), at: now, event: event(.worker, "x", from: nil, to: nil))
        } throws: { code(of: $0) == .notFound }
        await #expect {
            try await storage.recordCommits(
                .make(), base: "a", tested: nil, landed: nil, event: event(.patch, "x", from: nil, to: nil))
        } throws: { code(of: $0) == .notFound }
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).isEmpty)
    }

    @Test("a compare-and-set that finds the state changed is lostRace, naming the state it found")
    func lostRace() async throws {
        let storage = try await PostgresServer.makeStorage()
        let id = try await makeWorker(storage).workerID
        let other = storage
        await #expect {
            try await storage.updateWorker(id) { current in
                // Between this unit's read and its UPDATE, another unit assigns the worker and commits.
                try blockingWait {
                    _ = try await other.updateWorker(id) { current in
                        (
                            try current.applying(.assign(taskID: "first"), at: now),
                            event(.worker, id.description, from: "idle", to: "busy")
                        )
                    }
                }
                return (
                    try current.applying(.assign(taskID: "second"), at: now),
                    event(.worker, id.description, from: "idle", to: "busy")
                )
            }
        } throws: { error in
            code(of: error) == .lostRace && (error as? SluiceError)?.currentState == "busy"
        }
        #expect(try await storage.worker(id)?.currentTaskID == "first")
        #expect(
            try await storage.events(entityID: id.description, after: 0, limit: nil).map(\.toState) == ["idle", "busy"])
    }

    @Test("staleness is judged by the database's clock, not by heartbeat timestamps")
    func staleByDatabaseClock() async throws {
        let clock = FakeDatabaseClock()
        let storage = try await PostgresServer.makeStorage(databaseClock: clock)
        let liar = try await makeWorker(storage, at: Timestamp(milliseconds: 0))
        let quiet = try await makeWorker(storage)
        #expect(try await storage.staleWorkers(olderThan: 60).isEmpty)
        clock.advance(seconds: 61)
        let renewed = try await storage.renewLease(
            liar.workerID, at: Timestamp(milliseconds: 0),
            event: event(.worker, liar.workerID.description, from: nil, to: nil))
        #expect(renewed.lastHeartbeat == Timestamp(milliseconds: 0))
        #expect(try await storage.staleWorkers(olderThan: 60).map(\.workerID) == [quiet.workerID])
        _ = try await storage.updateWorker(quiet.workerID) { current in
            (
                try current.applying(.shutdown, at: now),
                event(.worker, current.workerID.description, from: "idle", to: "stopped")
            )
        }
        #expect(try await storage.staleWorkers(olderThan: 60).isEmpty)
        await #expect {
            try await storage.renewLease(quiet.workerID, at: now, event: event(.worker, "x", from: nil, to: nil))
        } throws: { ($0 as? SluiceError)?.currentState == "stopped" }
        #expect(try await storage.events(entityID: liar.workerID.description, after: 0, limit: nil).count == 2)
    }

    @Test("workers list newest first and filter by state and type")
    func workerList() async throws {
        let storage = try await PostgresServer.makeStorage()
        let first = try await makeWorker(storage, at: now)
        let second = try await makeWorker(storage, at: now.adding(milliseconds: 10))
        #expect(try await storage.workers(state: nil, type: nil).map(\.workerID) == [second.workerID, first.workerID])
        #expect(try await storage.workers(state: .busy, type: nil).isEmpty)
        #expect(try await storage.workers(state: .idle, type: .executor).count == 2)
        #expect(try await storage.workers(state: nil, type: .monitor).isEmpty)
    }

    // MARK: - Patches

    @Test("a patch round-trips with its history from the event log, by ledger id and by patch id")
    func patchRoundTrip() async throws {
        let storage = try await PostgresServer.makeStorage()
        let entry = PatchLedgerEntry(
            ledgerID: .make(), patchID: .make(), projectID: "p", phaseID: "ph", workstreamID: "ws",
            executionRequestID: .make(), relations: PatchRelations(chainID: "c"), at: now)
        try await storage.insertPatch(entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "created"))
        #expect(try await storage.patch(entry.ledgerID) == entry)
        #expect(try await storage.patch(patchID: entry.patchID) == entry)
        let changed = try await storage.updatePatch(
            entry.ledgerID,
            transition(
                .validate(formatOK: false, scopeOK: true, constraintsOK: true, errors: ["format: bad hunk"]),
                reason: "format: bad hunk"))
        let stored = try await storage.patch(entry.ledgerID)
        #expect(stored == changed)
        #expect(stored?.stateHistory.map(\.state) == [.created, .applyFailed])
        #expect(
            try await storage.patches(PatchFilter(projectID: "p", state: .applyFailed, workstreamID: "ws")).count == 1)
        #expect(try await storage.patches(PatchFilter(projectID: "other")).isEmpty)
    }

    @Test("inside a unit, a patch read after its transition already shows the new history entry")
    func historyInsideUnit() async throws {
        let storage = try await PostgresServer.makeStorage()
        let entry = try await makePatch(storage)
        let seen = try await storage.write { tx in
            _ = try tx.updatePatch(
                entry.ledgerID, transition(.validate(formatOK: true, scopeOK: true, constraintsOK: true, errors: [])))
            return try tx.patch(entry.ledgerID)?.stateHistory.map(\.state)
        }
        #expect(seen == [.created, .validated])
        #expect(try await storage.patch(entry.ledgerID)?.stateHistory.map(\.state) == [.created, .validated])
    }

    @Test("patch lists are newest first and honour the limit")
    func patchLimit() async throws {
        let storage = try await PostgresServer.makeStorage()
        var ids: [LedgerID] = []
        for index in 0..<5 {
            let entry = PatchLedgerEntry(
                ledgerID: .make(), patchID: .make(), projectID: "p", at: now.adding(milliseconds: Int64(index)))
            try await storage.insertPatch(
                entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "created"))
            ids.append(entry.ledgerID)
        }
        let listed = try await storage.patches(PatchFilter(limit: 2))
        #expect(listed.map(\.ledgerID) == [ids[4], ids[3]])
        #expect(listed.allSatisfy { $0.stateHistory.map(\.state) == [.created] })
        #expect(try await storage.patches(PatchFilter(limit: 0)).isEmpty)
        #expect(try await storage.patches(PatchFilter()).count == 5)
    }

    @Test("paths and reasons with quotes, backslashes and non-ASCII text round-trip")
    func awkwardText() async throws {
        let storage = try await PostgresServer.makeStorage()
        var entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p\"q'r", at: now)
        entry.state = .queued
        try await storage.insertPatch(entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "queued"))
        let files = ["src/a\"b.py", "c\\d.txt", "dossier/été.md", "tab\there", "it's.swift"]
        let applied = try await storage.updatePatch(
            entry.ledgerID, transition(.applySucceeded(workspacePath: "/tmp/w s", files: files)))
        #expect(applied.apply.appliedFiles == files)
        #expect(try await storage.patch(entry.ledgerID)?.apply.appliedFiles == files)
        #expect(try await storage.patch(entry.ledgerID)?.projectID == "p\"q'r")
    }

    @Test("a diff is stored byte for byte, once per content, with the pipeline's commits")
    func patchSource() async throws {
        let storage = try await PostgresServer.makeStorage()
        let bytes = Array("--- a/f\r\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n".utf8) + [0xFF, 0x00, 0xFE]
        var ids: [LedgerID] = []
        for _ in 0..<2 {
            let entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now)
            try await storage.insertPatch(
                entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "created"),
                source: PatchSource(
                    bytes: bytes, message: "fix", madeOn: String(repeating: "a", count: 40), author: "A <a@b>"))
            ids.append(entry.ledgerID)
        }
        let source = try #require(try await storage.patchSource(ids[0]))
        #expect(source.bytes == bytes && source.message == "fix" && source.sha256 == SHA256.hex(bytes))
        #expect(source.author == "A <a@b>" && source.madeOn == String(repeating: "a", count: 40))
        let note = event(.patch, ids[0].description, from: nil, to: nil, reason: "commits")
        try await storage.recordCommits(ids[0], base: "abc", tested: nil, landed: nil, event: note)
        try await storage.recordCommits(ids[0], base: nil, tested: "def", landed: "def", event: note)
        let updated = try #require(try await storage.patchSource(ids[0]))
        #expect(updated.baseCommit == "abc" && updated.testedCommit == "def" && updated.landedCommit == "def")
        #expect(try await storage.patchSource(ids[1])?.baseCommit == nil)
        #expect(try await storage.patchSource(.make()) == nil)
        // recordCommits appends its event: the history of the patch is created, then two notes.
        #expect(try await storage.events(entityID: ids[0].description, after: 0, limit: nil).count == 3)
        let contents = try await storage.withRawTransaction { connection in
            try connection.query("SELECT count(*) FROM patch_contents").first?.decode(Int64.self)
        }
        #expect(contents == 1)
    }

    // MARK: - Gates

    @Test("a gate round-trips with criteria, results and decision, and lists by filter and limit")
    func gateRoundTrip() async throws {
        let storage = try await PostgresServer.makeStorage()
        let gate = TestGateRecord(
            gateID: .make(), name: "unit", gateType: .unitTests, projectID: "p",
            criteria: GateCriteria(minCoverage: 80.5, maxFailures: 1, requiredTests: ["a.b"], timeoutSeconds: 60),
            metadata: ["n": .number(3)], at: now)
        try await storage.insertGate(gate, event: event(.gate, gate.gateID.description, from: nil, to: "pending"))
        #expect(try await storage.gate(gate.gateID) == gate)
        let done = try await storage.updateGate(gate.gateID) { current in
            let running = try current.applying(.start(command: "make test"), at: now)
            let results = GateResults(
                testCases: [TestCaseResult(name: "b", classname: "a", status: .passed, durationSeconds: 0.5)],
                coveragePercent: 90)
            let next = try running.applying(
                .complete(exitCode: 0, results: results), at: now.adding(milliseconds: 1500))
            return (next, event(.gate, current.gateID.description, from: "pending", to: next.state.rawValue))
        }
        #expect(done.state == .passed)
        #expect(try await storage.gate(gate.gateID) == done)
        #expect(
            try await storage.gates(GateFilter(projectID: "p", state: .passed, gateType: .unitTests, name: "unit"))
                .count == 1)
        #expect(try await storage.gates(GateFilter(state: .failed)).isEmpty)
        #expect(try await storage.gates(GateFilter(limit: 0)).isEmpty)
    }
}
