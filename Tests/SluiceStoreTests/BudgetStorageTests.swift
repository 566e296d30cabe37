import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

/// The budget tables' contract, on every backend.
@Suite("Budget storage")
struct BudgetStorageTests {
    let now = Timestamp(milliseconds: 1_767_225_600_000)

    func amount(_ text: String) -> ExactDecimal { try! ExactDecimal(parsing: text) }

    func event(_ scope: BudgetScope) -> Event {
        Event(
            entityKind: .budget, entityID: scope.description, fromState: nil, toState: "set", reason: nil, at: now,
            actor: "t")
    }

    @Test("budgets round-trip, replace and delete with their events", arguments: StoreKind.allCases)
    func budgets(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let project = try Budget(
            scope: .project("web"), limit: amount("12.345678901"), currency: try Currency("EUR"), window: .week,
            timeZone: "Asia/Tokyo", soft: [80, 50], hard: true, createdAt: now, updatedAt: now)
        let global = try Budget(scope: .global, limit: amount("1"), createdAt: now, updatedAt: now)
        try await storage.write { tx in
            try tx.putBudget(project, event: self.event(project.scope))
            try tx.putBudget(global, event: self.event(global.scope))
        }
        #expect(try await storage.read { try $0.budgets() } == [global, project])
        var changed = global
        changed.limit = amount("2")
        changed.hard = true
        try await storage.write { [changed] in try $0.putBudget(changed, event: self.event(changed.scope)) }
        #expect(try await storage.read { try $0.budgets() } == [changed, project])
        let removed = try await storage.write { tx in try tx.deleteBudget(.global) { _ in self.event(.global) } }
        #expect(removed == changed)
        #expect(try await storage.read { try $0.budgets() } == [project])
        await #expect {
            try await storage.write { tx in try tx.deleteBudget(.global) { _ in self.event(.global) } }
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        #expect(try await storage.events(entityID: "global", after: 0, limit: nil).count == 3)
    }

    @Test("spend changes only within its limit, never below zero; holds round-trip", arguments: StoreKind.allCases)
    func spend(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let scope = BudgetScope.project("p")
        let held = try await storage.write { tx in
            try tx.changeSpend(
                scope, window: "2026-01", committed: .zero, held: self.amount("6"), limit: self.amount("10"))
        }
        #expect(held?.held == amount("6") && held?.committed == .zero)
        // A fresh row past the limit is never made; a change past it is refused and writes nothing.
        #expect(
            try await storage.write { tx in
                try tx.changeSpend(
                    scope, window: "2026-02", committed: .zero, held: self.amount("11"), limit: self.amount("10"))
            } == nil)
        #expect(
            try await storage.write { tx in
                try tx.changeSpend(
                    scope, window: "2026-01", committed: .zero, held: self.amount("4.000000001"),
                    limit: self.amount("10"))
            } == nil)
        let full = try await storage.write { tx in
            try tx.changeSpend(
                scope, window: "2026-01", committed: self.amount("1"), held: self.amount("3"), limit: self.amount("10"))
        }
        #expect(full?.committed == amount("1") && full?.held == amount("9"))
        // Without a limit, committed passes it (spend is never understated).
        _ = try await storage.write { tx in
            try tx.changeSpend(
                scope, window: "2026-01", committed: self.amount("5"), held: self.amount("-9"), limit: nil)
        }
        await #expect(throws: SluiceError.self) {
            try await storage.write { tx in
                try tx.changeSpend(
                    scope, window: "2026-01", committed: .zero, held: self.amount("-0.000000001"), limit: nil)
            }
        }
        try await storage.write { try $0.setSoftFired(scope, window: "2026-01", percent: 80) }
        #expect(
            try await storage.read { try $0.budgetSpends(nil) } == [
                BudgetSpend(scope: scope, windowKey: "2026-01", committed: amount("6"), held: .zero, softFired: 80)
            ])
        #expect(try await storage.read { try $0.budgetSpend(scope, window: "2026-02") } == nil)
        let hold = BudgetHold(
            taskID: .make(), epoch: 2, workerID: .make(), estimate: amount("3"), currency: .usd,
            parts: [BudgetHoldPart(scope: scope, windowKey: "2026-01", amount: amount("3"))], createdAt: now)
        try await storage.write { try $0.putHold(hold) }
        var used = hold
        used.parts[0].amount = amount("1")
        try await storage.write { [used] in try $0.putHold(used) }
        #expect(try await storage.read { try $0.budgetHolds(taskID: hold.taskID) } == [used])
        #expect(try await storage.read { try $0.budgetHolds(taskID: .make()) }.isEmpty)
        #expect(try await storage.write { try $0.deleteHold(taskID: hold.taskID, epoch: 2) })
        #expect(try await storage.write { try $0.deleteHold(taskID: hold.taskID, epoch: 2) } == false)
    }
}
