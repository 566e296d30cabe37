import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

/// The storage contract, written once and run against every backend in `StoreKind.allCases`.
@Suite("Storage conformance")
struct StorageConformanceTests {
    let now = Timestamp(milliseconds: 1_767_225_600_000)

    func event(_ kind: EntityKind, _ id: String, from: String?, to: String?) -> Event {
        Event(entityKind: kind, entityID: id, fromState: from, toState: to, reason: nil, at: now, actor: "test")
    }

    func makeWorker(_ storage: any Storage, at: Timestamp? = nil) async throws -> WorkerRecord {
        let worker = WorkerRecord(
            workerID: .make(), workerType: .executor, metadata: ["k": .string("v")], at: at ?? now)
        try await storage.insertWorker(
            worker, event: event(.worker, worker.workerID.description, from: nil, to: "idle"))
        return worker
    }

    @Test("a worker round-trips", arguments: StoreKind.allCases)
    func workerRoundTrip(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let worker = try await makeWorker(storage)
        await #expect(try storage.worker(worker.workerID) == worker)
        await #expect(try storage.worker(.make()) == nil)
    }

    @Test("inserting an id twice is a conflict and changes nothing", arguments: StoreKind.allCases)
    func duplicate(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let worker = try await makeWorker(storage)
        await #expect {
            try await storage.insertWorker(
                worker, event: event(.worker, worker.workerID.description, from: nil, to: "idle"))
        } throws: { ($0 as? SluiceError)?.code == .conflict }
        await #expect(try storage.events(entityID: worker.workerID.description, after: 0, limit: nil).count == 1)
    }

    @Test("an update writes the record and appends its event in one step", arguments: StoreKind.allCases)
    func update(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let worker = try await makeWorker(storage)
        let id = worker.workerID
        let updated = try await storage.updateWorker(id) { current in
            var next = current
            next.state = .busy
            next.currentTaskID = "t"
            return (next, self.event(.worker, id.description, from: "idle", to: "busy"))
        }
        #expect(updated.state == .busy)
        await #expect(try storage.worker(id)?.currentTaskID == "t")
        let events = try await storage.events(entityID: id.description, after: 0, limit: nil)
        #expect(events.map(\.toState) == ["idle", "busy"])
        #expect(events[1].sequence > events[0].sequence)
    }

    @Test("a change that throws writes nothing", arguments: StoreKind.allCases)
    func throwingChange(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let worker = try await makeWorker(storage)
        await #expect(throws: SluiceError.self) {
            try await storage.updateWorker(worker.workerID) { _ in throw SluiceError.invalidInput("no") }
        }
        await #expect(try storage.worker(worker.workerID) == worker)
        await #expect(try storage.events(entityID: nil, after: 0, limit: nil).count == 1)
    }

    @Test("updating an unknown record is notFound", arguments: StoreKind.allCases)
    func updateUnknown(kind: StoreKind) async throws {
        let storage = try await kind.make()
        await #expect {
            try await storage.updateWorker(.make()) { ($0, self.event(.worker, "x", from: nil, to: nil)) }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect {
            try await storage.updatePatch(.make()) { ($0, self.event(.patch, "x", from: nil, to: nil)) }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect {
            try await storage.updateGate(.make()) { ($0, self.event(.gate, "x", from: nil, to: nil)) }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect {
            try await storage.deleteCost(.make()) { _ in self.event(.cost, "x", from: nil, to: nil) }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect {
            try await storage.renewLease(.make(), at: now, event: self.event(.worker, "lease", from: nil, to: nil))
        } throws: { ($0 as? SluiceError)?.code == .notFound }
    }

    @Test("staleness is judged by the database's clock, not by heartbeat timestamps", arguments: StoreKind.allCases)
    func staleByDatabaseClock(kind: StoreKind) async throws {
        let databaseClock = FakeDatabaseClock()
        let storage = try await kind.make(databaseClock: databaseClock)
        // A worker whose own timestamps claim a time far in the past is still fresh by the database's clock.
        let liar = try await makeWorker(storage, at: Timestamp(milliseconds: 0))
        let quiet = try await makeWorker(storage)
        await #expect(try storage.staleWorkers(olderThan: 60).isEmpty)
        databaseClock.advance(seconds: 61)
        _ = try await storage.renewLease(
            liar.workerID, at: Timestamp(milliseconds: 0), event: self.event(.worker, "lease", from: nil, to: nil))
        await #expect(try storage.staleWorkers(olderThan: 60).map(\.workerID) == [quiet.workerID])
        // Terminal workers are never stale.
        _ = try await storage.updateWorker(quiet.workerID) { current in
            var next = current
            next.state = .stopped
            return (next, self.event(.worker, current.workerID.description, from: "idle", to: "stopped"))
        }
        await #expect(try storage.staleWorkers(olderThan: 60).isEmpty)
        await #expect {
            try await storage.renewLease(
                quiet.workerID, at: now, event: self.event(.worker, "lease", from: nil, to: nil))
        } throws: { ($0 as? SluiceError)?.currentState == "stopped" }
    }

    @Test("workers list newest first and filter by state and type", arguments: StoreKind.allCases)
    func workerList(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let first = try await makeWorker(storage, at: now)
        let second = try await makeWorker(storage, at: now.adding(milliseconds: 10))
        await #expect(try storage.workers(state: nil, type: nil).map(\.workerID) == [second.workerID, first.workerID])
        await #expect(try storage.workers(state: .busy, type: nil).isEmpty)
        await #expect(try storage.workers(state: .idle, type: .executor).count == 2)
        await #expect(try storage.workers(state: nil, type: .monitor).isEmpty)
    }

    @Test("a patch round-trips with its history from the event log", arguments: StoreKind.allCases)
    func patchRoundTrip(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let entry = PatchLedgerEntry(
            ledgerID: .make(), patchID: .make(), projectID: "p", phaseID: "ph", workstreamID: "ws",
            executionRequestID: .make(), relations: PatchRelations(chainID: "c"), at: now)
        try await storage.insertPatch(entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "created"))
        await #expect(try storage.patch(entry.ledgerID) == entry)
        await #expect(try storage.patch(patchID: entry.patchID) == entry)
        let later = now.adding(milliseconds: 5)
        let changed = try await storage.updatePatch(entry.ledgerID) { current in
            let next = try current.applying(
                .validate(formatOK: false, scopeOK: true, constraintsOK: true, errors: ["format: bad hunk"]), at: later)
            return (
                next,
                Event(
                    entityKind: .patch, entityID: current.ledgerID.description, fromState: "created",
                    toState: "apply_failed", reason: "format: bad hunk", at: later, actor: "test")
            )
        }
        let stored = try await storage.patch(entry.ledgerID)
        #expect(stored == changed)
        #expect(stored?.stateHistory.map(\.state) == [.created, .applyFailed])
        await #expect(
            try storage.patches(PatchFilter(projectID: "p", state: .applyFailed, workstreamID: "ws")).count == 1)
        await #expect(try storage.patches(PatchFilter(projectID: "other")).isEmpty)
    }

    @Test("paths and reasons with quotes, backslashes and non-ASCII text round-trip", arguments: StoreKind.allCases)
    func awkwardText(kind: StoreKind) async throws {
        let storage = try await kind.make()
        var entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p\"q", at: now)
        entry.state = .queued
        try await storage.insertPatch(entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "queued"))
        let files = ["src/a\"b.py", "c\\d.txt", "dossier/été.md", "tab\there", "plain.swift"]
        let applied = try await storage.updatePatch(entry.ledgerID) { current in
            let next = try current.applying(.applySucceeded(workspacePath: "/tmp/w s", files: files), at: self.now)
            return (next, self.event(.patch, current.ledgerID.description, from: "queued", to: "applied"))
        }
        #expect(applied.apply.appliedFiles == files)
        await #expect(try storage.patch(entry.ledgerID)?.apply.appliedFiles == files)
        await #expect(try storage.patch(entry.ledgerID)?.projectID == "p\"q")
    }

    @Test("a gate round-trips with criteria, results and decision", arguments: StoreKind.allCases)
    func gateRoundTrip(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let gate = TestGateRecord(
            gateID: .make(), name: "unit", gateType: .unitTests, projectID: "p",
            criteria: GateCriteria(minCoverage: 80.5, maxFailures: 1, requiredTests: ["a.b"], timeoutSeconds: 60),
            metadata: ["n": .number(3)], at: now)
        try await storage.insertGate(gate, event: event(.gate, gate.gateID.description, from: nil, to: "pending"))
        await #expect(try storage.gate(gate.gateID) == gate)
        let done = try await storage.updateGate(gate.gateID) { current in
            let running = try current.applying(.start(command: "make test"), at: now)
            let results = GateResults(
                testCases: [TestCaseResult(name: "b", classname: "a", status: .passed, durationSeconds: 0.5)],
                coveragePercent: 90)
            let next = try running.applying(
                .complete(exitCode: 0, results: results), at: now.adding(milliseconds: 1500))
            return (next, self.event(.gate, current.gateID.description, from: "pending", to: next.state.rawValue))
        }
        #expect(done.state == .passed)
        await #expect(try storage.gate(gate.gateID) == done)
        await #expect(try storage.gates(GateFilter(projectID: "p", state: .passed, gateType: .unitTests)).count == 1)
        await #expect(try storage.gates(GateFilter(state: .failed)).isEmpty)
    }

    @Test("gate runs are found by the patch and the kind of check their metadata names", arguments: StoreKind.allCases)
    func gatesByMetadata(kind: StoreKind) async throws {
        let storage = try await kind.make()
        for (ledger, check) in [("L1", "base"), ("L1", "rerun 1"), ("L2", nil), ("L2", "base")] {
            var metadata: [String: JSONValue] = ["ledger_id": .string(ledger)]
            if let check { metadata["check"] = .string(check) }
            let gate = TestGateRecord(gateID: .make(), name: "unit", gateType: .custom, metadata: metadata, at: now)
            try await storage.insertGate(gate, event: event(.gate, gate.gateID.description, from: nil, to: "pending"))
        }
        await #expect(try storage.gates(GateFilter(check: "base")).count == 2)
        await #expect(
            try storage.gates(GateFilter(check: "rerun 1")).map { $0.metadata["ledger_id"] } == [.string("L1")])
        await #expect(try storage.gates(GateFilter(ledgerID: "L2", check: "base")).count == 1)
        await #expect(try storage.gates(GateFilter(check: "Base")).isEmpty)
    }

    @Test("costs total exactly per currency and deletion updates the totals", arguments: StoreKind.allCases)
    func costTotals(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let tenth = try ExactDecimal(parsing: "0.1")
        var ids: [CostID] = []
        for index in 0..<10 {
            let cost = try CostRecord(
                costID: .make(), projectID: index < 5 ? "a" : "b",
                resourceType: index % 2 == 0 ? .apiCall : .computeTime,
                amount: tenth, currency: .usd, recordedAt: now.adding(milliseconds: Int64(index)))
            try await storage.insertCost(cost, event: event(.cost, cost.costID.description, from: nil, to: "recorded"))
            ids.append(cost.costID)
        }
        let euro = try CostRecord(
            costID: .make(), resourceType: .storage, amount: ExactDecimal(parsing: "2.5"), currency: Currency("EUR"),
            recordedAt: now)
        try await storage.insertCost(euro, event: event(.cost, euro.costID.description, from: nil, to: "recorded"))

        await #expect(
            try storage.costTotals(CostFilter()) == [
                CostTotal(currency: try Currency("EUR"), amount: try ExactDecimal(parsing: "2.5"), count: 1),
                CostTotal(currency: .usd, amount: try ExactDecimal(parsing: "1"), count: 10),
            ])
        await #expect(
            try storage.costTotals(CostFilter(projectID: "a")).first?.amount == (try ExactDecimal(parsing: "0.5")))
        let breakdown = try await storage.costBreakdown(CostFilter(currency: .usd))
        #expect(breakdown.map(\.resourceType) == [.apiCall, .computeTime])
        #expect(breakdown.map(\.amount.description) == ["0.5", "0.5"])

        let deleted = try await storage.deleteCost(ids[0]) { record in
            self.event(.cost, record.costID.description, from: "recorded", to: "deleted")
        }
        #expect(deleted.costID == ids[0])
        await #expect(try storage.cost(ids[0]) == nil)
        await #expect(
            try storage.costTotals(CostFilter(currency: .usd)).first?.amount == (try ExactDecimal(parsing: "0.9")))
        await #expect(try storage.costs(CostFilter(), limit: 3).map(\.costID) == [ids[9], ids[8], ids[7]])
        await #expect(try storage.costs(CostFilter(resourceType: .storage), limit: nil) == [euro])
    }

    @Test(
        "an unpriced record keeps no amount: it reads back as none, adds nothing to totals and is counted apart",
        arguments: StoreKind.allCases)
    func unpricedCost(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let priced = try CostRecord(
            costID: .make(), projectID: "p", resourceType: .apiCall, resourceName: "m", amount: ExactDecimal(units: 7),
            currency: .usd, recordedAt: now)
        let unpriced = try CostRecord(
            costID: .make(), projectID: "p", resourceType: .apiCall, resourceName: "m", amount: nil, currency: .usd,
            recordedAt: now.adding(milliseconds: 1), metadata: ["amount_source": .string("unpriced")])
        for cost in [priced, unpriced] {
            try await storage.insertCost(cost, event: event(.cost, cost.costID.description, from: nil, to: "recorded"))
        }
        let read = try #require(try await storage.cost(unpriced.costID))
        #expect(read.amount == nil && read.isUnpriced && read == unpriced)
        await #expect(
            try storage.costTotals(CostFilter()) == [
                CostTotal(currency: .usd, amount: ExactDecimal(units: 7), count: 2)
            ])
        let report = try await storage.read { try $0.costReport(by: .model, try CostReportRange()) }
        #expect(
            report == [CostReportRow(key: "m", currency: .usd, amount: ExactDecimal(units: 7), records: 2, unpriced: 1)]
        )
        let byTask = try await storage.read { try $0.costReport(by: .task, try CostReportRange()) }
        #expect(byTask.map(\.unpriced) == [1] && byTask.map(\.amount) == [ExactDecimal(units: 7)])
        // Only unpriced records go without: usage (quantity × rate) needs an amount.
        #expect(throws: SluiceError.self) {
            try CostRecord(
                costID: .make(), resourceType: .computeTime, amount: nil, currency: .usd,
                usage: CostUsage(quantity: .zero, unit: "s", rate: .zero), recordedAt: now)
        }
        // Deleting it changes no amount and one count.
        _ = try await storage.deleteCost(unpriced.costID) { record in
            self.event(.cost, record.costID.description, from: "recorded", to: "deleted")
        }
        await #expect(
            try storage.costTotals(CostFilter()) == [
                CostTotal(currency: .usd, amount: ExactDecimal(units: 7), count: 1)
            ])
        let after = try await storage.read { try $0.costReport(by: .model, try CostReportRange()) }
        #expect(after.map(\.unpriced) == [0] && after.map(\.records) == [1])
    }

    @Test("the event log reads in order, by entity and after a sequence", arguments: StoreKind.allCases)
    func eventLog(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let first = try await makeWorker(storage)
        _ = try await makeWorker(storage)
        let all = try await storage.events(entityID: nil, after: 0, limit: nil)
        #expect(all.count == 2)
        await #expect(try storage.events(entityID: first.workerID.description, after: 0, limit: nil).count == 1)
        await #expect(
            try storage.events(entityID: nil, after: all[0].sequence, limit: nil).map(\.sequence) == [all[1].sequence])
        await #expect(try storage.events(entityID: nil, after: 0, limit: 1).count == 1)
    }
}

@Suite("Submitted patch contents")
struct PatchSourceTests {
    @Test(
        "a diff is stored byte for byte, once per content, with the pipeline's commits", arguments: StoreKind.allCases)
    func roundTrip(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let now = Timestamp(milliseconds: 0)
        let bytes = Array("--- a/f\r\n+++ b/f\n@@ -1 +1 @@\n-x\n+y\n\\ No newline at end of file".utf8) + [0xFF, 0x00]
        var ids: [LedgerID] = []
        for _ in 0..<2 {
            let entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now)
            try await storage.insertPatch(
                entry,
                event: Event(
                    entityKind: .patch, entityID: entry.ledgerID.description, fromState: nil, toState: "created",
                    reason: nil, at: now, actor: "t"),
                source: PatchSource(bytes: bytes, message: "fix"))
            ids.append(entry.ledgerID)
        }
        let source = try await #require(try storage.patchSource(ids[0]))
        #expect(source.bytes == bytes && source.message == "fix" && source.sha256 == SHA256.hex(bytes))
        try await storage.recordCommits(ids[0], base: "abc", tested: nil, landed: nil, event: commitsEvent(ids[0]))
        try await storage.recordCommits(ids[0], base: nil, tested: "def", landed: "def", event: commitsEvent(ids[0]))
        let updated = try await #require(try storage.patchSource(ids[0]))
        #expect(updated.baseCommit == "abc" && updated.testedCommit == "def" && updated.landedCommit == "def")
        await #expect(try storage.patchSource(ids[1])?.baseCommit == nil)
        await #expect(try storage.patchSource(.make()) == nil)
        await #expect(throws: SluiceError.self) {
            try await storage.recordCommits(.make(), base: "x", tested: nil, landed: nil, event: commitsEvent(.make()))
        }
    }

    @Test("a diff keeps its priority; the queue's priorities are read by state", arguments: StoreKind.allCases)
    func priorities(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let now = Timestamp(milliseconds: 0)
        var ids: [LedgerID] = []
        for (state, priority) in [(PatchState.queued, PatchPriority.urgent), (.queued, .normal), (.created, .low)] {
            var entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now)
            entry.state = state
            try await storage.insertPatch(
                entry, event: commitsEvent(entry.ledgerID), source: PatchSource(bytes: [0x41], priority: priority))
            ids.append(entry.ledgerID)
        }
        await #expect(try storage.patchSource(ids[0])?.priority == .urgent)
        await #expect(try storage.patchSource(ids[1])?.priority == .normal)
        // Normal is left out; so are patches in other states.
        await #expect(try storage.patchPriorities(state: .queued) == [ids[0]: .urgent])
        await #expect(try storage.patchPriorities(state: .created) == [ids[2]: .low])
        let promoted = ids[1]
        try await storage.write { try $0.setPatchPriority(promoted, .high, event: commitsEvent(promoted)) }
        await #expect(try storage.patchPriorities(state: .queued) == [ids[0]: .urgent, ids[1]: .high])
        await #expect(try storage.events(entityID: ids[1].description, after: 0, limit: nil).count == 2)
        let unknown = LedgerID.make()
        await #expect {
            try await storage.write { try $0.setPatchPriority(unknown, .high, event: commitsEvent(unknown)) }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect(try storage.events(entityID: unknown.description, after: 0, limit: nil).isEmpty)
    }
}

/// The event that goes with recording a patch's commits.
func commitsEvent(_ id: LedgerID) -> Event {
    Event(
        entityKind: .patch, entityID: id.description, fromState: nil, toState: nil, reason: nil,
        at: Timestamp(milliseconds: 1_767_225_600_000), actor: "test", payload: ["operation": .string("record_commits")]
    )
}
