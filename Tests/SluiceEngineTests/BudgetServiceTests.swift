import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// Budgets through the services, on every backend: holds made with claims (all or none), released
/// with the claim, used up by costs, and soft thresholds fired once per window.
@Suite("Budgets")
struct BudgetServiceTests {
    struct Fixture {
        let engine: Engine
        let clock: FakeClock

        init(_ kind: StoreKind, start: Timestamp = Timestamp(milliseconds: 1_767_225_600_000)) async throws {
            let clock = FakeClock(start: start)
            let storage = try await kind.make()
            engine = Engine(EngineContext(storage: storage, clock: clock, ids: ULIDGenerator(clock: clock), actor: "t"))
            self.clock = clock
        }

        func task(project: String = "p", estimate: String? = nil) async throws -> TaskRecord {
            var metadata: [String: JSONValue] = [:]
            if let estimate { metadata[CostEstimate.metadataKey] = try CostEstimate(parsing: estimate).json }
            return try await engine.tasks.add(
                TaskRequest(prompt: "do", projectID: project, executionRequestID: .make(), metadata: metadata))
        }

        func worker() async throws -> WorkerID { try await engine.workers.create(type: .executor).workerID }

        func holds(_ task: TaskID?) async throws -> [BudgetHold] {
            try await engine.context.storage.read { try $0.budgetHolds(taskID: task) }
        }

        func spend(_ scope: BudgetScope) async throws -> BudgetStatus {
            try await engine.budgets.show(scope).0
        }

        /// A cost of a task's claim, as the supervisor records it.
        func cost(_ amount: String, task: TaskRecord, epoch: Int64, worker: WorkerID) async throws {
            try await engine.costs.record(
                type: .apiCall, amount: try ExactDecimal(parsing: amount), project: task.projectID,
                request: task.executionRequestID,
                metadata: [
                    "task_id": .string(task.taskID.description), "epoch": .number(Decimal(epoch)),
                    "worker_id": .string(worker.description),
                ])
        }
    }

    static func amount(_ text: String) -> ExactDecimal { try! ExactDecimal(parsing: text) }

    @Test(
        "a claim holds the estimate on every budget; a hold the project budget cannot cover leaves nothing held",
        arguments: StoreKind.allCases)
    func allOrNone(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        let first = try await fixture.task(estimate: "3")
        try await budgets.set(.global, limit: Self.amount("100"), hard: true)
        try await budgets.set(.project("p"), limit: Self.amount("5"), hard: true)
        try await budgets.set(.task(first.taskID), limit: Self.amount("3"), hard: true)
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        #expect(claimed.taskID == first.taskID)
        for scope: BudgetScope in [.global, .project("p"), .task(first.taskID)] {
            #expect(try await fixture.spend(scope).held == Self.amount("3"))
        }
        // The second fits its own task budget and the global one, not the project's 5 (3 held + 3).
        let second = try await fixture.task(estimate: "3")
        try await budgets.set(.task(second.taskID), limit: Self.amount("10"), hard: true)
        let other = try await fixture.worker()
        await #expect {
            try await fixture.engine.tasks.claim(for: other)
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .blocked && error?.message.contains("project:p") == true
        }
        // Nothing of the refused hold stays: not on the global budget, not on the task's.
        #expect(try await fixture.spend(.global).held == Self.amount("3"))
        #expect(try await fixture.spend(.task(second.taskID)).held == .zero)
        #expect(try await fixture.engine.tasks.get(second.taskID).state == .queued)
        #expect(try await fixture.engine.workers.get(other).state == .idle)
        // The task keeps the reason, once however often the claim is refused.
        await #expect(throws: SluiceError.self) { try await fixture.engine.tasks.claim(for: other) }
        let refusals = try await fixture.engine.events(entityID: second.taskID.description).filter {
            $0.payload["operation"] == .string("budget refused")
        }
        #expect(refusals.count == 1)
        #expect(refusals.first?.reason?.contains("cannot cover task \(second.taskID)") == true)
        #expect(try await fixture.holds(second.taskID).isEmpty)
    }

    @Test(
        "a task its budget cannot cover is passed over: the next task is claimed, the first keeps the reason",
        arguments: StoreKind.allCases)
    func passedOver(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let big = try await fixture.task(estimate: "5")
        let small = try await fixture.task(estimate: "1")
        try await fixture.engine.budgets.set(.task(big.taskID), limit: Self.amount("2"), hard: true)
        try await fixture.engine.budgets.set(.global, limit: Self.amount("3"), hard: true)
        let claimed = try #require(try await fixture.engine.tasks.claim(for: try await fixture.worker()))
        #expect(claimed.taskID == small.taskID)
        #expect(try await fixture.engine.tasks.get(big.taskID).state == .queued)
        let reasons = try await fixture.engine.events(entityID: big.taskID.description).compactMap(\.reason)
        #expect(reasons.contains { $0.contains("cannot cover task \(big.taskID)") }, "\(reasons)")
        #expect(try await fixture.spend(.global).held == Self.amount("1"))
        // Nothing else fits: the claim is refused with the first task's reason.
        await #expect { try await fixture.engine.tasks.claim(for: try await fixture.worker()) } throws: {
            ($0 as? SluiceError)?.code == .blocked
        }
    }

    @Test(
        "costs use up the hold and count in full past it; the end of the claim releases what is left",
        arguments: StoreKind.allCases)
    func commitAndRelease(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        try await fixture.engine.budgets.set(.project("p"), limit: Self.amount("10"), hard: true)
        let task = try await fixture.task(estimate: "4")
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        try await fixture.cost("1.5", task: task, epoch: claimed.epoch, worker: worker)
        var status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("1.5") && status.held == Self.amount("2.5"))
        // More than is left of the hold: committed in full, the hold used up, never below zero.
        try await fixture.cost("3", task: task, epoch: claimed.epoch, worker: worker)
        status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("4.5") && status.held == .zero)
        try await fixture.engine.tasks.complete(task.taskID, epoch: claimed.epoch)
        status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("4.5") && status.held == .zero)
        #expect(try await fixture.holds(nil).isEmpty)
        // A cost of no task counts too.
        try await fixture.engine.costs.record(type: .computeTime, amount: Self.amount("0.25"), project: "p")
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("4.75"))
    }

    @Test(
        "unpriced usage is charged what its claim still holds, after the priced costs; with nothing held, said",
        arguments: StoreKind.allCases)
    func unpricedChargesTheHold(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        try await fixture.engine.budgets.set(.project("p"), limit: Self.amount("10"), hard: true)
        try await fixture.engine.budgets.set(.global, limit: Self.amount("100"), hard: false)
        let task = try await fixture.task(estimate: "4")
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        func record(_ amount: String?, _ task: TaskRecord, epoch: Int64) throws -> CostRecord {
            try CostRecord(
                costID: .make(), executionRequestID: task.executionRequestID, projectID: "p", resourceType: .apiCall,
                resourceName: amount == nil ? "mystery" : "known", amount: amount.map(Self.amount), currency: .usd,
                recordedAt: fixture.clock.now(),
                metadata: [
                    "task_id": .string(task.taskID.description), "epoch": .number(Decimal(epoch)),
                    "worker_id": .string(worker.description),
                    "unpriced_reason": amount == nil ? .string("no price for model mystery") : .null,
                ])
        }
        // One unit of work with the unpriced record first: the priced one uses the hold first anyway.
        try await fixture.engine.costs.importRecords([
            try record(nil, task, epoch: claimed.epoch), try record("1", task, epoch: claimed.epoch),
        ])
        var status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("4") && status.held == .zero)
        #expect(try await fixture.spend(.global).committed == Self.amount("4"))
        let events = try await fixture.engine.context.storage.events(entityID: "project:p", after: 0, limit: nil)
        let said = try #require(events.last { $0.payload["operation"] == .string("unpriced") })
        #expect(said.payload["counted"] == .string("3") && said.reason?.contains("no price for model mystery") == true)
        // The record's deletion leaves the charge: its real cost is still unknown.
        let unpriced = try #require(try await fixture.engine.costs.list().first { $0.isUnpriced })
        try await fixture.engine.costs.delete(unpriced.costID)
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("4"))
        try await fixture.engine.tasks.complete(task.taskID, epoch: claimed.epoch)
        // A claim with no estimate holds nothing: unpriced usage is not counted, and the events say so.
        let bare = try await fixture.task()
        let second = try #require(try await fixture.engine.tasks.claim(for: worker))
        #expect(second.taskID == bare.taskID)
        try await fixture.engine.costs.importRecords([try record(nil, bare, epoch: second.epoch)])
        status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("4"))
        let later = try await fixture.engine.context.storage.events(entityID: "project:p", after: 0, limit: nil)
        #expect(later.last?.payload["counted"] == .string("0"))
        #expect(later.last?.reason?.contains("no held estimate was left for it") == true)
    }

    @Test("unpriced usage is charged a hold in the budget's own currency: it has no amount to convert")
    func unpricedInAnotherCurrency() async throws {
        let fixture = try await Fixture(.sqliteMemory)
        try await fixture.engine.budgets.set(
            .project("p"), limit: Self.amount("1"), currency: try Currency("EUR"), hard: true)
        let task = try await fixture.task(estimate: "0.4 EUR")
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        let unpriced = try CostRecord(
            costID: .make(), executionRequestID: task.executionRequestID, projectID: "p", resourceType: .apiCall,
            amount: nil, currency: .usd, recordedAt: fixture.clock.now(),
            metadata: ["task_id": .string(task.taskID.description), "epoch": .number(Decimal(claimed.epoch))])
        try await fixture.engine.tasks.fail(task.taskID, epoch: claimed.epoch, reason: "x", costs: [unpriced])
        let status = try await fixture.spend(.project("p"))
        #expect(status.committed == Self.amount("0.4") && status.held == .zero)
    }

    @Test("a claim fenced (its worker reaped, the task requeued) releases its hold", arguments: StoreKind.allCases)
    func fencedReleases(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        try await fixture.engine.budgets.set(.global, limit: Self.amount("5"), hard: true)
        let task = try await fixture.task(estimate: "5")
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        #expect(try await fixture.spend(.global).held == Self.amount("5"))
        // Nothing else fits while the hold stands.
        _ = try await fixture.task(estimate: "1")
        await #expect(throws: SluiceError.self) {
            try await fixture.engine.tasks.claim(for: try await fixture.worker())
        }
        try await fixture.engine.tasks.requeue(task.taskID, epoch: claimed.epoch, reason: "lease expired")
        #expect(try await fixture.spend(.global).held == .zero)
        #expect(try await fixture.holds(task.taskID).isEmpty)
        // The next claim holds again, under the new epoch.
        let again = try #require(try await fixture.engine.tasks.claim(for: try await fixture.worker()))
        let holds = try await fixture.holds(again.taskID)
        #expect(holds.map(\.epoch) == [again.epoch])
    }

    @Test("a soft budget never refuses; each threshold fires once per window", arguments: StoreKind.allCases)
    func softThresholds(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        try await fixture.engine.budgets.set(.global, limit: Self.amount("10"), window: .day, soft: [50, 80, 100])
        for amount in ["4", "0.9", "0.1", "2", "1", "5"] {
            try await fixture.engine.costs.record(type: .custom, amount: Self.amount(amount))
        }
        let fired = try await fixture.engine.events(entityID: "global").compactMap { event -> Int? in
            guard case .number(let percent)? = event.payload["percent"] else { return nil }
            return Int(truncating: percent as NSNumber)
        }
        #expect(fired == [50, 80, 100])
        // A soft budget over its limit still lets work start.
        _ = try await fixture.task(estimate: "3")
        #expect(try await fixture.engine.tasks.claim(for: try await fixture.worker()) != nil)
        // The next day is a new window: the thresholds fire again there.
        fixture.clock.advance(seconds: 86_400)
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("6"))
        let again = try await fixture.engine.events(entityID: "global").filter {
            $0.payload["operation"] == .string("soft threshold")
        }
        #expect(again.count == 4)
        #expect(again.last?.payload["window"] == .string("2026-01-02"))
    }

    @Test("spend either side of a month's end in New York lands in that city's months", arguments: StoreKind.allCases)
    func monthBoundary(kind: StoreKind) async throws {
        // 2026-12-01T04:30Z is 23:30 on 30 November in New York (UTC-5).
        let fixture = try await Fixture(kind, start: try Timestamp(parsing: "2026-12-01T04:30:00.000Z"))
        try await fixture.engine.budgets.set(
            .global, limit: Self.amount("10"), window: .month, timeZone: "America/New_York", hard: true)
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("7"))
        fixture.clock.advance(seconds: 3600)  // 00:30 on 1 December in New York
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("2"))
        let (status, windows) = try await fixture.engine.budgets.show(.global)
        #expect(windows.map(\.windowKey) == ["2026-11", "2026-12"])
        #expect(windows.map(\.committed) == [Self.amount("7"), Self.amount("2")])
        #expect(status.window == "2026-12" && status.remaining == Self.amount("8"))
        // December's window has room for a task November's would not have had.
        _ = try await fixture.task(estimate: "5")
        #expect(try await fixture.engine.tasks.claim(for: try await fixture.worker()) != nil)
    }

    @Test("bad budgets are refused and change nothing; removing keeps the spend", arguments: [StoreKind.sqliteMemory])
    func inputs(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        for bad in [
            { try await budgets.set(.global, limit: .zero) },
            { try await budgets.set(.global, limit: Self.amount("-1")) },
            { try await budgets.set(.global, limit: Self.amount("1"), timeZone: "Mars/Olympus") },
            { try await budgets.set(.global, limit: Self.amount("1"), soft: [0]) },
            { try await budgets.set(.global, limit: Self.amount("1"), soft: [101]) },
        ] as [@Sendable () async throws -> Budget] {
            await #expect(throws: SluiceError.self) { try await bad() }
        }
        #expect(try await budgets.list().isEmpty)
        await #expect { try await budgets.remove(.global) } throws: { ($0 as? SluiceError)?.code == .notFound }
        try await budgets.set(.global, limit: Self.amount("2"))
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("1.5"))
        try await budgets.remove(.global)
        #expect(try await budgets.list().isEmpty)
        try await budgets.set(.global, limit: Self.amount("2"), hard: true)
        #expect(try await fixture.spend(.global).committed == Self.amount("1.5"))
        // An estimate of zero still needs something left; nothing is left at the limit.
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("0.5"))
        _ = try await fixture.task()
        await #expect { try await fixture.engine.tasks.claim(for: try await fixture.worker()) } throws: {
            ($0 as? SluiceError)?.code == .blocked
        }
    }

    @Test("a budget in another currency refuses an estimate it cannot convert, and does not count its costs")
    func currencies() async throws {
        let fixture = try await Fixture(.sqliteMemory)
        try await fixture.engine.budgets.set(
            .global, limit: Self.amount("10"), currency: try Currency("EUR"), hard: true)
        _ = try await fixture.task(estimate: "1")
        await #expect { try await fixture.engine.tasks.claim(for: try await fixture.worker()) } throws: {
            ($0 as? SluiceError)?.message.contains("no rate") == true
        }
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("3"))
        #expect(try await fixture.spend(.global).committed == .zero)
        let notCounted = try await fixture.engine.events(entityID: "global").filter {
            $0.payload["operation"] == .string("not counted")
        }
        #expect(notCounted.count == 1)
    }

    @Test(
        "a recorded rate, with its date and source, lets costs and estimates in another currency count, rounded up",
        arguments: StoreKind.allCases)
    func rates(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        let eur = try Currency("EUR")
        try await budgets.set(.global, limit: Self.amount("10"), hard: true)
        try await budgets.set(.project("p"), limit: Self.amount("100"), currency: eur, hard: true)
        // Before any rate, an EUR cost does not count on the USD budget (and does on the EUR one).
        let early = try await fixture.engine.costs.record(
            type: .custom, amount: Self.amount("1"), currency: eur, project: "p")
        #expect(try await fixture.spend(.global).committed == .zero)
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("1"))
        // Bad rates are refused, and record nothing.
        for bad in [
            {
                try await budgets.setRate(
                    from: eur, to: eur, rate: Self.amount("1"), quotedOn: "2026-01-01", source: "x")
            },
            { try await budgets.setRate(from: eur, to: .usd, rate: .zero, quotedOn: "2026-01-01", source: "x") },
            {
                try await budgets.setRate(from: eur, to: .usd, rate: Self.amount("1.1"), quotedOn: "1 Jan", source: "x")
            },
            {
                try await budgets.setRate(
                    from: eur, to: .usd, rate: Self.amount("1.1"), quotedOn: "2026-01-01", source: " ")
            },
            {
                try await budgets.setRate(
                    from: eur, to: .usd, rate: Self.amount("1000000.1"), quotedOn: "2026-01-01", source: "x")
            },
        ] as [@Sendable () async throws -> CurrencyRate] {
            await #expect { _ = try await bad() } throws: { ($0 as? SluiceError)?.code == .invalidInput }
        }
        #expect(try await budgets.rates().isEmpty)
        fixture.clock.advance(seconds: 1)
        let first = try await budgets.setRate(
            from: eur, to: .usd, rate: Self.amount("1.0812345"), quotedOn: "2025-12-31", source: "ECB reference rate")
        // 0.3 × 1.0812345 = 0.32437035 exactly; 0.000000001 × 1.0812345 rounds up to 0.000000002.
        let converted = try await fixture.engine.costs.record(
            type: .custom, amount: Self.amount("0.3"), currency: eur, project: "p")
        let tiny = try await fixture.engine.costs.record(
            type: .custom, amount: Self.amount("0.000000001"), currency: eur, project: "p")
        #expect(try await fixture.spend(.global).committed == Self.amount("0.324370352"))
        let said = try await fixture.engine.events(entityID: "global").filter {
            $0.payload["operation"] == .string("converted")
        }
        #expect(said.count == 2)
        #expect(said.first?.payload["rate"] == .string("1.0812345"))
        #expect(said.first?.payload["quoted_on"] == .string("2025-12-31"))
        #expect(said.first?.payload["source"] == .string("ECB reference rate"))
        // A newer rate converts what comes after it; what came before keeps the rate it counted through.
        fixture.clock.advance(seconds: 1)
        try await budgets.setRate(from: eur, to: .usd, rate: Self.amount("2"), quotedOn: "2026-01-01", source: "bank")
        #expect(try await budgets.rates().map(\.rate) == [first.rate, Self.amount("2")])
        try await fixture.engine.costs.delete(converted.costID)
        try await fixture.engine.costs.delete(early.costID)
        #expect(try await fixture.spend(.global).committed == Self.amount("0.000000002"))
        try await fixture.engine.costs.delete(tiny.costID)
        #expect(try await fixture.spend(.global).committed == .zero)
        // An estimate in EUR is held converted on the USD budget, and refused when it does not fit.
        let task = try await fixture.task(estimate: "4 EUR")
        let claimed = try #require(try await fixture.engine.tasks.claim(for: try await fixture.worker()))
        #expect(claimed.taskID == task.taskID)
        #expect(try await fixture.spend(.global).held == Self.amount("8"))
        #expect(try await fixture.spend(.project("p")).held == Self.amount("4"))
        // Each part is held in its budget's currency. A USD cost uses up the USD part by its amount; the
        // EUR budget cannot count it (no rate converts USD to EUR), so what its part held counts in its
        // place, and says so. An EUR cost then uses up the USD part by what it counts there.
        let worker = try #require(claimed.workerID)
        try await fixture.cost("1", task: task, epoch: claimed.epoch, worker: worker)
        func parts() async throws -> [ExactDecimal?] {
            let hold = try #require(try await fixture.holds(task.taskID).first)
            return [BudgetScope.global, .project("p")].map { scope in
                hold.parts.first { $0.scope == scope }?.amount
            }
        }
        #expect(try await parts() == [Self.amount("7"), .zero])
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("4"))
        let stood = try await fixture.engine.events(entityID: "project:p").filter {
            $0.payload["operation"] == .string("counted held estimate")
        }
        #expect(stood.count == 1 && stood.first?.payload["counted"] == .string("4"))
        try await fixture.engine.costs.record(
            type: .apiCall, amount: Self.amount("1"), currency: eur, project: "p",
            metadata: ["task_id": .string(task.taskID.description), "epoch": .number(Decimal(claimed.epoch))])
        #expect(try await parts() == [Self.amount("5"), .zero])
        #expect(try await fixture.spend(.global).committed == Self.amount("3"))
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("5"))
        _ = try await fixture.task(estimate: "2 EUR")
        await #expect { try await fixture.engine.tasks.claim(for: try await fixture.worker()) } throws: {
            ($0 as? SluiceError)?.code == .blocked
        }
        // A hard budget takes no claim whose costs it could not count: with no estimate, costs are taken
        // to be in USD, and no rate converts USD to EUR.
        let unestimated = try await fixture.task(estimate: nil)
        func refusal(of task: TaskRecord) async throws -> String? {
            await #expect { try await fixture.engine.tasks.claim(for: try await fixture.worker()) } throws: {
                ($0 as? SluiceError)?.code == .blocked
            }
            return try await fixture.engine.events(entityID: task.taskID.description).last {
                $0.payload["operation"] == .string("budget refused")
            }?.reason
        }
        let unestimatedRefusal = try #require(try await refusal(of: unestimated))
        #expect(unestimatedRefusal.contains("no rate from USD to EUR"), "\(unestimatedRefusal)")
        #expect(unestimatedRefusal.contains("sluice budget rate set USD EUR"))
        // A budget's currency does not change under spend on record (it would relabel it), and a
        // refused change changes nothing.
        await #expect {
            try await budgets.set(.project("p"), limit: Self.amount("100"), currency: .usd, hard: true)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput && "\($0)".contains("cannot change to USD") }
        #expect(try await budgets.show(.project("p")).0.budget.currency == eur)
        try await budgets.set(.project("z"), limit: Self.amount("1"), currency: eur)
        #expect(try await budgets.set(.project("z"), limit: Self.amount("1")).currency == .usd, "no spend, so it may")
        // Nor by removing the budget and setting it again: its spend stays on record, in EUR.
        try await budgets.remove(.project("p"))
        await #expect {
            try await budgets.set(.project("p"), limit: Self.amount("100"), currency: .usd, hard: true)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput && "\($0)".contains("was in EUR") }
        try await budgets.set(.project("p"), limit: Self.amount("100"), currency: eur, hard: true)
        // Bad dates and sources: a day the calendar does not have, one to come (the clock is at
        // 2026-01-01; a day ahead is today somewhere), a direction override, padding.
        for (day, source) in [
            ("2026-02-29", "x"), ("2026-01-03", "x"), ("2099-01-01", "x"), ("2026-13-01", "x"), ("2026-1-01", "x"),
            ("2026-01-01", "a\u{202E}b"),
            ("2026-01-01", " padded"), ("2026-01-01", "line\u{2028}break"),
        ] {
            await #expect {
                try await budgets.setRate(from: .usd, to: eur, rate: Self.amount("1"), quotedOn: day, source: source)
            } throws: { ($0 as? SluiceError)?.code == .invalidInput }
        }
        // A converted estimate too large to count is a refusal like any other, not an error of the claim.
        try await budgets.setRate(
            from: .usd, to: eur, rate: Self.amount("1000000"), quotedOn: "2024-02-29", source: "x")
        #expect(try await budgets.rates().count == 3)
        // (Without the USD budget, the two tasks refused above now fit the EUR one, and go first.)
        try await budgets.remove(.global)
        let huge = try await fixture.task(estimate: "1000000 USD")
        for _ in 0..<2 { #expect(try await fixture.engine.tasks.claim(for: try await fixture.worker()) != nil) }
        let hugeRefusal = try #require(try await refusal(of: huge))
        #expect(hugeRefusal.contains("too large"), "\(hugeRefusal)")
        // A second rate of the pair at the same instant is refused.
        await #expect {
            try await fixture.engine.context.storage.write { tx in
                try (tx as? any LedgerImporting)?.putRateRow(first)
            }
        } throws: { ($0 as? SluiceError)?.code == .conflict }
    }

    @Test(
        "a patch's gates hold what they may cost on its budgets, all or none; released when done, or once lapsed",
        arguments: StoreKind.allCases)
    func gateHolds(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        let request = ExecutionRequestID.make()
        try await budgets.set(.global, limit: Self.amount("10"), hard: true)
        try await budgets.set(.project("p"), limit: Self.amount("4"), hard: true)
        try await budgets.set(.request(request), limit: Self.amount("1"))
        try await budgets.set(.project("other"), limit: Self.amount("1"), hard: true)
        let config = SluiceConfig(
            targetBranch: "main",
            gates: [
                GateConfig(name: "unit", type: .custom, command: "true", criteria: GateCriteria(timeoutSeconds: 100)),
                GateConfig(name: "lint", type: .custom, command: "true", criteria: GateCriteria(timeoutSeconds: 200)),
            ], computeRate: Self.amount("0.01"))
        // 0.01 a second × (100 + 200) s and each gate's 5 s of grace.
        let estimate = BudgetService.gateEstimate(config)
        #expect(estimate == CostEstimate(amount: Self.amount("3.1"), currency: .usd))
        let patch = try await fixture.engine.patches.create(project: "p", request: request)
        let hold = try #require(try await Self.hold(budgets, patch, estimate, lasting: 900))
        // Global, its project and its request (a soft budget holds too); not another project's.
        #expect(hold.parts.map(\.scope) == [.global, .project("p"), .request(request)])
        for scope in [BudgetScope.global, .project("p"), .request(request)] {
            #expect(try await fixture.spend(scope).held == Self.amount("3.1"), "\(scope)")
        }
        #expect(try await fixture.spend(.project("other")).held == .zero)
        // A second patch does not fit its project's budget (3 + 3 > 4): refused, and nothing is held,
        // on global either; the refusal is in the budget's events.
        let second = try await fixture.engine.patches.create(project: "p")
        await #expect { try await Self.hold(budgets, second, estimate, lasting: 900) } throws: {
            ($0 as? SluiceError)?.code == .blocked
                && "\($0)".contains("cannot cover the gates of patch \(second.ledgerID)")
        }
        #expect(try await fixture.spend(.global).held == Self.amount("3.1"))
        #expect(try await budgets.gateHolds().map(\.ledgerID) == [patch.ledgerID])
        let refusals = try await fixture.engine.events(entityID: "project:p").filter {
            $0.payload["operation"] == .string("gates refused")
        }
        #expect(refusals.count == 1 && refusals.first?.payload["ledger_id"] == .string(second.ledgerID.description))
        // Released when the patch is done; a second release changes nothing.
        try await budgets.releaseGates(patch.ledgerID)
        try await budgets.releaseGates(patch.ledgerID)
        for scope in [BudgetScope.global, .project("p"), .request(request)] {
            #expect(try await fixture.spend(scope).held == .zero, "\(scope)")
        }
        // A run killed while gating leaves its hold; holding the same patch again replaces it.
        _ = try #require(try await Self.hold(budgets, second, estimate, lasting: 60))
        _ = try #require(try await Self.hold(budgets, second, estimate, lasting: 60))
        #expect(try await fixture.spend(.project("p")).held == Self.amount("3.1"))
        // Past its time, the next hold of any kind (here a claim's) releases it.
        fixture.clock.advance(seconds: 61)
        _ = try await fixture.task(estimate: "1")
        #expect(try await fixture.engine.tasks.claim(for: try await fixture.worker()) != nil)
        #expect(try await budgets.gateHolds().isEmpty)
        #expect(try await fixture.spend(.project("p")).held == Self.amount("1"))
        // Free gate time holds nothing.
        #expect(
            try await Self.hold(
                budgets, patch, BudgetService.gateEstimate(SluiceConfig(targetBranch: "main")), lasting: 60)
                == nil)
        // A ledger whose run is gating a patch is not copied: the hold would be lost on the way.
        _ = try #require(
            try await Self.hold(budgets, second, CostEstimate(amount: Self.amount("1"), currency: .usd), lasting: 60))
        let destination = try await StoreKind.sqliteFile.make()
        let copier = LedgerCopier(from: fixture.engine.context.storage, to: destination, clock: fixture.clock)
        await #expect { try await copier.copy() } throws: {
            ($0 as? SluiceError)?.code == .invalidInput && "\($0)".contains("a run is gating patch \(second.ledgerID)")
        }
        // Lapsed, the refusal says how to release it.
        fixture.clock.advance(seconds: 61)
        await #expect { try await copier.copy() } throws: {
            "\($0)".contains("a run that stopped while gating patch \(second.ledgerID)")
                && "\($0)".contains("`sluice run` releases it")
        }
        #expect(try await destination.read { try $0.budgets() }.isEmpty)
    }

    @Test(
        "found by review: lapsed gate holds are released even when the hold or claim that found them is refused; a run's start releases every one; gates costing more than Sluice counts are refused by a hard budget",
        arguments: StoreKind.allCases)
    func gateHoldReview(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        try await budgets.set(.project("p"), limit: Self.amount("4"), hard: true)
        let three = CostEstimate(amount: Self.amount("3"), currency: .usd)
        let first = try await fixture.engine.patches.create(project: "p")
        let second = try await fixture.engine.patches.create(project: "p")
        // A killed run's hold lapses; a patch that does not fit even then (5 > 4) is refused, and the
        // lapsed hold is released all the same.
        _ = try #require(try await Self.hold(budgets, first, three, lasting: 60))
        fixture.clock.advance(seconds: 61)
        await #expect {
            try await Self.hold(budgets, second, CostEstimate(amount: Self.amount("5"), currency: .usd))
        } throws: { ($0 as? SluiceError)?.code == .blocked }
        #expect(try await budgets.gateHolds().isEmpty)
        #expect(try await fixture.spend(.project("p")).held == .zero)
        // A claim refused on its own (5 > 4) releases a lapsed hold all the same, and its refusal is
        // on record once.
        _ = try #require(try await Self.hold(budgets, first, three, lasting: 60))
        fixture.clock.advance(seconds: 61)
        let task = try await fixture.task(estimate: "5")
        let worker = try await fixture.worker()
        await #expect { try await fixture.engine.tasks.claim(for: worker) } throws: {
            ($0 as? SluiceError)?.code == .blocked
        }
        #expect(try await budgets.gateHolds().isEmpty)
        #expect(try await fixture.spend(.project("p")).held == .zero)
        let refusals = try await fixture.engine.events(entityID: task.taskID.description).filter {
            $0.payload["operation"] == .string("budget refused")
        }
        #expect(refusals.count == 1)
        // A run's start releases every hold on record, lapsed or not.
        _ = try #require(try await Self.hold(budgets, second, CostEstimate(amount: Self.amount("1"), currency: .usd)))
        #expect(try await budgets.releaseAllGateHolds().map(\.ledgerID) == [second.ledgerID])
        #expect(try await fixture.spend(.project("p")).held == .zero)
        // Every release but a run's own is on record: two lapsed ones, and the one the run's start released.
        let released = try await fixture.engine.events(entityID: "project:p").filter {
            $0.payload["operation"] == .string("gate hold released")
        }
        #expect(released.count == 3, "\(released.map(\.reason))")
        #expect(released.last?.reason?.contains("the run that held it stopped") == true)
        #expect(released.first?.reason?.contains("lapsed") == true)
        // Gates that may cost more than Sluice counts: no estimate; a hard budget refuses, a soft one
        // holds nothing.
        let huge = SluiceConfig(
            targetBranch: "main",
            gates: [
                GateConfig(
                    name: "long", type: .custom, command: "true", criteria: GateCriteria(timeoutSeconds: 86_400))
            ], computeRate: Self.amount("100"))
        #expect(BudgetService.gateEstimate(huge) == nil)
        await #expect { try await Self.hold(budgets, second, nil) } throws: {
            ($0 as? SluiceError)?.code == .blocked && "\($0)".contains("more than \(CostEstimate.maximum) USD")
        }
        try await budgets.set(.project("p"), limit: Self.amount("4"), hard: false)
        #expect(try await Self.hold(budgets, second, nil) == nil)
        #expect(try await budgets.gateHolds().isEmpty)
    }

    @Test(
        "status counts tasks, patches and workers by state in the database, and unpriced costs apart",
        arguments: StoreKind.allCases)
    func statusCounts(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        _ = try await fixture.task(estimate: nil)
        _ = try await fixture.task(estimate: nil)
        let idle = try await fixture.worker()
        _ = try await fixture.worker()
        #expect(try await fixture.engine.tasks.claim(for: idle) != nil)
        _ = try await fixture.engine.patches.create(project: "p")
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("0.25"), project: "p")
        let status = try await fixture.engine.status()
        #expect(status.tasks == ["queued": 1, "running": 1])
        #expect(status.workers == ["busy": 1, "idle": 1])
        #expect(status.patches.values.reduce(0, +) == 1)
        #expect(status.spend == ["USD": "0.25"] && status.unpriced == 0)
    }

    static func hold(
        _ budgets: BudgetService, _ entry: PatchLedgerEntry, _ estimate: CostEstimate?, lasting seconds: Int64 = 900
    ) async throws -> GateHold? {
        try await budgets.holdGates(for: entry, estimate: estimate, currency: .usd, lasting: seconds)
    }

    @Test(
        "found by review: holds shrink only where costs count; no estimate is nothing in any currency; a cancel releases; a deleted cost uncounts; a new limit re-arms thresholds",
        arguments: StoreKind.allCases)
    func reviewFindings(kind: StoreKind) async throws {
        let fixture = try await Fixture(kind)
        let budgets = fixture.engine.budgets
        try await budgets.set(.project("p"), limit: Self.amount("2"), hard: true)
        let task = try await fixture.task(estimate: "1")
        let worker = try await fixture.worker()
        let claimed = try #require(try await fixture.engine.tasks.claim(for: worker))
        // A cost that names the claim but another project commits nothing to project:p: it frees nothing there.
        try await fixture.engine.costs.record(
            type: .apiCall, amount: Self.amount("1.5"), project: "other",
            metadata: ["task_id": .string(task.taskID.description), "epoch": .number(Decimal(claimed.epoch))])
        var status = try await fixture.spend(.project("p"))
        #expect(status.committed == .zero && status.held == Self.amount("1"))
        // A cancel ends the claim (raising its epoch) and releases its hold at once.
        try await fixture.engine.tasks.cancel(task.taskID)
        status = try await fixture.spend(.project("p"))
        #expect(status.held == .zero)
        #expect(try await fixture.holds(nil).isEmpty)
        // A soft budget in another currency never refuses a task without an estimate.
        try await budgets.set(.global, limit: Self.amount("100"), currency: try Currency("EUR"))
        _ = try await fixture.task()
        #expect(try await fixture.engine.tasks.claim(for: try await fixture.worker()) != nil)
        // A deleted cost no longer counts.
        let cost = try await fixture.engine.costs.record(type: .custom, amount: Self.amount("1.25"), project: "p")
        #expect(try await fixture.spend(.project("p")).committed == Self.amount("1.25"))
        try await fixture.engine.costs.delete(cost.costID)
        #expect(try await fixture.spend(.project("p")).committed == .zero)
        // A raised limit judges the thresholds afresh: 50% of the new limit fires again.
        try await budgets.set(.project("p"), limit: Self.amount("2"), soft: [50], hard: true)
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("1.5"), project: "p")
        try await budgets.set(.project("p"), limit: Self.amount("10"), soft: [50], hard: true)
        try await fixture.engine.costs.record(type: .custom, amount: Self.amount("4"), project: "p")
        let fired = try await fixture.engine.events(entityID: "project:p").filter {
            $0.payload["operation"] == .string("soft threshold")
        }
        #expect(fired.count == 2)
        #expect(throws: SluiceError.self) { try CostEstimate(parsing: "9000000000") }
        #expect(throws: SluiceError.self) {
            try Budget(
                scope: .global, limit: Self.amount("1"), timeZone: "EST", createdAt: .init(milliseconds: 0),
                updatedAt: .init(milliseconds: 0))
        }
    }

}
