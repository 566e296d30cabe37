import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

/// The importer `sluice db copy` writes through, on every backend: only into an empty database, all
/// or nothing, event numbers kept and new events after them.
@Suite("Ledger import")
struct LedgerImportTests {
    let now = Timestamp(milliseconds: 1_767_225_600_000)

    func event(_ sequence: Int64, _ id: String, to: String?) -> Event {
        Event(
            sequence: sequence, entityKind: .worker, entityID: id, fromState: nil, toState: to, reason: "r", at: now,
            actor: "test")
    }

    /// A small ledger: a worker, a submitted patch and a cost, with events numbered 3, 7 and 8.
    func ledger(madeOn: String? = nil) throws -> LedgerSnapshot {
        let worker = WorkerRecord(workerID: .make(), workerType: .executor, at: now)
        let patch = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now)
        let cost = try CostRecord(
            costID: .make(), projectID: "p", resourceType: .apiCall, amount: ExactDecimal(parsing: "1.5"),
            currency: .usd, recordedAt: now)
        var created = event(7, patch.ledgerID.description, to: "created")
        created.entityKind = .patch
        var recorded = event(8, cost.costID.description, to: nil)
        recorded.entityKind = .cost
        var task = TaskRecord(
            taskID: .make(), request: TaskRequest(prompt: "fix it", projectID: "p", executionRequestID: .make()),
            at: now)
        task = try task.applying(.claim(workerID: worker.workerID, epoch: 1), at: now)
        task = try task.applying(.requeue(epoch: 1, reason: "lease expired"), at: now)
        var queued = event(9, task.taskID.description, to: "queued")
        queued.entityKind = .task
        let unpriced = try CostRecord(
            costID: .make(), projectID: "p", resourceType: .apiCall, resourceName: "mystery", amount: nil,
            currency: .usd, recordedAt: now)
        var snapshot = LedgerSnapshot(
            workers: [worker], patches: [patch],
            sources: [patch.ledgerID: PatchSource(bytes: [0xFF], madeOn: madeOn, priority: .high)],
            costs: [cost, unpriced], tasks: [task],
            events: [event(3, worker.workerID.description, to: "idle"), created, recorded, queued])
        snapshot.budgets = [
            try Budget(
                scope: .project("p"), limit: ExactDecimal(parsing: "10"), window: .month, timeZone: "Europe/Berlin",
                soft: [50, 80], hard: true, createdAt: now, updatedAt: now)
        ]
        snapshot.budgetSpends = [
            BudgetSpend(
                scope: .project("p"), windowKey: "2026-01", committed: try ExactDecimal(parsing: "1.5"),
                held: try ExactDecimal(parsing: "2"), softFired: 0)
        ]
        snapshot.budgetHolds = [
            BudgetHold(
                taskID: task.taskID, epoch: 1, workerID: worker.workerID, estimate: try ExactDecimal(parsing: "2"),
                currency: .usd,
                parts: [
                    BudgetHoldPart(scope: .project("p"), windowKey: "2026-01", amount: try ExactDecimal(parsing: "2"))
                ],
                createdAt: now)
        ]
        snapshot.currencyRates = [
            try CurrencyRate(
                from: Currency("EUR"), to: .usd, rate: ExactDecimal(parsing: "1.08"), quotedOn: "2026-01-01",
                source: "ECB reference rate", recordedAt: now)
        ]
        snapshot.testQuarantines = [
            TestQuarantine(
                gate: "tests", test: "suite.flaky", automatic: false, quarantinedBy: "ana", quarantinedAt: now,
                reason: "evicts at random", passesInARow: 2, releasedBy: "bo", releasedAt: now, releaseReason: "fixed"
            ).released(by: "bo", at: now, reason: "fixed")
        ]
        return snapshot
    }

    func importing(_ ledger: LedgerSnapshot) -> Step<Void> {
        { tx in
            let importer = try #require(tx as? any LedgerImporting)
            try importer.importLedger(ledger)
        }
    }

    @Test(
        "an imported ledger keeps its event numbers, and the next event comes after them", arguments: StoreKind.allCases
    )
    func keepsSequences(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let ledger = try ledger()
        try await storage.write(importing(ledger))
        let events = try await storage.events(entityID: nil, after: 0, limit: nil)
        #expect(events.map(\.sequence) == [3, 7, 8, 9])
        #expect(try await storage.patch(ledger.patches[0].ledgerID)?.stateHistory.map(\.state) == [.created])
        #expect(try await storage.patchSource(ledger.patches[0].ledgerID)?.bytes == [0xFF])
        #expect(try await storage.patchSource(ledger.patches[0].ledgerID)?.priority == .high)
        #expect(try await storage.costTotals(CostFilter()).map(\.amount.description) == ["1.5"])
        #expect(try await storage.task(ledger.tasks[0].taskID) == ledger.tasks[0])
        // Unpriced records, budgets, their windows and holds, and currency rates come across as they were.
        let copied = try await storage.read { try LedgerSnapshot.read($0) }
        #expect(copied.costs == ledger.costs && copied.costs.contains { $0.isUnpriced })
        #expect(copied.budgets == ledger.budgets)
        #expect(copied.budgetSpends == ledger.budgetSpends)
        #expect(copied.budgetHolds == ledger.budgetHolds)
        #expect(copied.currencyRates == ledger.currencyRates)
        #expect(copied.testQuarantines == ledger.testQuarantines && copied.testQuarantines.count == 1)
        #expect(
            copied.counts.summary.contains(
                "2 cost records, 1 tasks, 1 budgets (1 windows, 1 holds, 1 currency rates), 1 test quarantines, 4 events"
            ))
        try await storage.append(event(0, "note", to: nil))
        #expect(try await storage.events(entityID: nil, after: 9, limit: nil).map(\.sequence) == [10])
    }

    @Test(
        "a store that holds any record or event takes no import, and keeps what it held", arguments: StoreKind.allCases)
    func refusesNonEmpty(kind: StoreKind) async throws {
        let storage = try await kind.make()
        try await storage.append(event(0, "note", to: nil))
        let before = try await storage.read { try LedgerSnapshot.read($0) }
        await #expect {
            try await storage.write(importing(try ledger()))
        } throws: { error in
            (error as? SluiceError)?.code == .invalidInput
                && (error as? SluiceError)?.message.contains("already holds records or events") == true
        }
        #expect(try await storage.read { try LedgerSnapshot.read($0) } == before)
    }

    @Test("an import that fails part way leaves nothing", arguments: StoreKind.allCases)
    func failedImportLeavesNothing(kind: StoreKind) async throws {
        let storage = try await kind.make()
        // The diff's base commit breaks a CHECK: the worker is already written when it fails.
        await #expect(throws: SluiceError.self) { try await storage.write(importing(try ledger(madeOn: "abc"))) }
        #expect(try await storage.read { try #require($0 as? any LedgerIdentifying).holdsNothing() })
        #expect(try await storage.read { try LedgerSnapshot.read($0) }.isEmpty)
    }

    @Test("events out of order are refused before anything is written", arguments: StoreKind.allCases)
    func eventsOutOfOrder(kind: StoreKind) async throws {
        let storage = try await kind.make()
        var ledger = try ledger()
        ledger.events[1].sequence = 3
        await #expect {
            try await storage.write(importing(ledger))
        } throws: { ($0 as? SluiceError)?.message.contains("increasing sequence numbers") == true }
        #expect(try await storage.read { try LedgerSnapshot.read($0) }.isEmpty)
    }

    @Test("two stores on one SQLite file share an identity; two files do not")
    func identities() async throws {
        let directory = TemporaryDirectory()
        let one = try SQLiteStorage(path: directory.file("a.db"))
        let again = try SQLiteStorage(path: directory.file("a.db"))
        let other = try SQLiteStorage(path: directory.file("b.db"))
        func identity(_ storage: any Storage) async throws -> String {
            try await storage.read { try #require($0 as? any LedgerIdentifying).databaseIdentity() }
        }
        #expect(try await identity(one) == identity(again))
        #expect(try await identity(one) != identity(other))
        let memory = (try SQLiteStorage(inMemory: .init()), try SQLiteStorage(inMemory: .init()))
        #expect(try await identity(memory.0) != identity(memory.1))
    }

    @Test("the digest is the same for equal ledgers and changes with any byte of a diff")
    func digest() throws {
        let ledger = try ledger()
        var reordered = LedgerSnapshot(
            workers: ledger.workers, patches: ledger.patches, sources: ledger.sources, costs: ledger.costs.reversed(),
            tasks: ledger.tasks.reversed(), events: ledger.events.reversed())
        reordered.budgets = ledger.budgets
        reordered.budgetSpends = ledger.budgetSpends
        reordered.budgetHolds = ledger.budgetHolds
        reordered.currencyRates = ledger.currencyRates
        reordered.testQuarantines = ledger.testQuarantines
        #expect(try ledger.digest() == reordered.digest())
        // So are the test quarantines.
        var unquarantined = ledger
        unquarantined.testQuarantines = []
        #expect(try unquarantined.digest() != ledger.digest())
        // The budgets and the currency rates are part of what a copy must carry.
        var unbudgeted = ledger
        unbudgeted.budgetHolds = []
        #expect(try unbudgeted.digest() != ledger.digest())
        var unrated = ledger
        unrated.currencyRates = []
        #expect(try unrated.digest() != ledger.digest())
        #expect(unrated.firstDifference(from: ledger)?.contains("counts differ") == true)
        var changed = ledger
        changed.sources[ledger.patches[0].ledgerID]?.bytes = [0xFE]
        #expect(try changed.digest() != ledger.digest())
        #expect(
            changed.firstDifference(from: ledger)
                == "the diff, commits or priority of patch \(ledger.patches[0].ledgerID) differ"
        )
        var demoted = ledger
        demoted.sources[ledger.patches[0].ledgerID]?.priority = .normal
        #expect(try demoted.digest() != ledger.digest())
        #expect(ledger.firstDifference(from: ledger) == nil)
    }
}
