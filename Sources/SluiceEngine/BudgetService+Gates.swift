import Foundation
import SluiceCore
import SluiceStore
import Synchronization

extension BudgetScope {
    /// The scopes a patch's gate runs count against: their costs name its project and its request.
    public static func scopes(of entry: PatchLedgerEntry) -> [BudgetScope] {
        [.global, .project(entry.projectID)] + (entry.executionRequestID.map { [.request($0)] } ?? [])
    }
}

extension BudgetService {
    /// What the gates of a patch may cost: the compute rate × the most they may run (each gate's time
    /// limit and the grace it gets after it), in the configuration's currency. Zero when gate time is
    /// free; nil when it is more than Sluice counts (``CostEstimate/maximum``), which no hard budget covers.
    public static func gateEstimate(_ config: SluiceConfig) -> CostEstimate? {
        let product = Int128(config.computeRate.units) * Int128(gateSeconds(config))
        guard product <= Int128(CostEstimate.maximum.units) else { return nil }
        return CostEstimate(amount: ExactDecimal(units: Int64(product)), currency: config.currency)
    }

    /// The most the gates of a patch may run: each gate's time limit, and the grace it gets after it.
    public static func gateSeconds(_ config: SluiceConfig) -> Int64 {
        config.gates.reduce(Int64(0)) { $0 + Int64($1.timeoutSeconds) + Int64(config.graceSeconds) }
    }

    /// Holds what the gates of `entry` may cost on every budget their costs count against (global, its
    /// project, its request), all or none, in one unit, like a claim's hold: a hard budget takes it only
    /// if committed + held + estimate ≤ limit. The hold lasts `seconds` at most (the gates' time limits
    /// and some margin): a run releases it when the patch is done (``releaseGates(_:)``); one killed
    /// on the way leaves it to the next run's recovery (``releaseAllGateHolds()``), or to lapse,
    /// released by the next hold of any kind. Lapsed holds, and one a killed run left for this same
    /// patch, are released first, in a unit of their own: a refusal here does not keep them.
    ///
    /// - Parameter estimate: nil when what the gates may cost is more than Sluice counts
    ///   (``gateEstimate(_:)``): a hard budget refuses it, a soft one holds nothing.
    /// - Returns: the hold; nil when nothing is held (a zero estimate, or no budget applies).
    /// - Throws: `blocked` when a hard budget cannot cover the estimate, or cannot count it (no rate
    ///   from its currency): nothing is held, and a `budget` event on that budget says why.
    public func holdGates(
        for entry: PatchLedgerEntry, estimate: CostEstimate?, currency: Currency, lasting seconds: Int64
    ) async throws -> GateHold? {
        let context = self.context
        let now = context.clock.now()
        try await context.storage.write { tx in
            _ = try Self.releaseLapsedGateHolds(tx, context, at: now)
            if let left = try tx.gateHolds().first(where: { $0.ledgerID == entry.ledgerID }) {
                try Self.release(tx, left)
                try Self.noteRelease(tx, context, left, why: "a run stopped while gating it, and it is gated again")
            }
        }
        let refused = GateRefusal()
        do {
            return try await context.storage.write { tx in
                if let estimate, estimate.amount.units == 0 { return nil }
                let scopes = Set(BudgetScope.scopes(of: entry))
                let applying = try tx.budgets().filter { scopes.contains($0.scope) }.sorted { $0.scope < $1.scope }
                guard !applying.isEmpty else { return nil }
                var rates = RateBook()
                var checks: [(Budget, String, ExactDecimal?)] = []
                var parts: [BudgetHoldPart] = []
                for budget in applying {
                    let window = budget.windowKey(at: now)
                    var converted: CostEstimate?
                    var problem = "no rate from \(currency) to \(budget.currency) is on record"
                    if let estimate {
                        do {
                            converted = try rates.estimate(estimate, for: budget, at: now, tx)
                        } catch let error as SluiceError where error.code == .invalidInput {
                            problem = error.message
                        }
                    }
                    guard let converted else {
                        guard budget.hard else { continue }
                        guard let estimate else {
                            throw refused.set(
                                budget.scope,
                                "hard budget \(budget.scope) cannot cover the gates of patch \(entry.ledgerID): they "
                                    + "may cost more than \(CostEstimate.maximum) \(currency) (costs.compute_rate × "
                                    + "their time limits and grace), more than Sluice counts; lower timeout_seconds "
                                    + "or the rate")
                        }
                        throw refused.set(
                            budget.scope,
                            "hard budget \(budget.scope) is in \(budget.currency) and cannot count what the gates of "
                                + "patch \(entry.ledgerID) may cost, \(estimate.amount) \(estimate.currency): \(problem)"
                        )
                    }
                    checks.append((budget, window, budget.hard ? budget.limit : nil))
                    parts.append(BudgetHoldPart(scope: budget.scope, windowKey: window, amount: converted.amount))
                }
                guard let estimate, !parts.isEmpty else { return nil }
                let hold = GateHold(
                    ledgerID: entry.ledgerID, estimate: estimate.amount, currency: estimate.currency, parts: parts,
                    createdAt: now, expiresAt: now.adding(milliseconds: max(1, seconds) * 1000))
                try tx.insertGateHold(hold)
                // The budgets' rows last, in scope order, as a claim's hold writes them.
                for ((budget, window, limit), part) in zip(checks, parts) {
                    guard
                        try tx.changeSpend(
                            budget.scope, window: window, committed: .zero, held: part.amount, limit: limit) != nil
                    else {
                        let spend = try tx.budgetSpend(budget.scope, window: window)
                        throw refused.set(
                            budget.scope,
                            "hard budget \(budget.scope) (\(budget.limit) \(budget.currency)"
                                + (budget.window == .none ? "" : " per \(budget.window.rawValue), window \(window)")
                                + ") cannot cover the gates of patch \(entry.ledgerID): "
                                + "\(spend?.committed ?? .zero) committed + \(spend?.held ?? .zero) held + "
                                + "estimate \(part.amount) > \(budget.limit) (the estimate: costs.compute_rate × "
                                + "the gates' time limits and grace)")
                    }
                }
                return hold
            }
        } catch {
            guard let (scope, message) = refused.value.withLock({ $0 }) else { throw error }
            // Once for as long as the reason stands: a watching run asks again every few seconds.
            _ = try? await context.storage.write { tx in
                let last = try tx.events(entityID: scope.description, after: 0, limit: nil).last
                guard last?.reason != message else { return }
                try tx.append(
                    context.event(
                        .budget, scope.description, from: nil, to: nil, reason: message, at: now,
                        payload: [
                            "operation": .string("gates refused"), "ledger_id": .string(entry.ledgerID.description),
                        ]))
            }
            throw SluiceError(code: .blocked, message: message)
        }
    }

    /// Releases the hold for the gates of patch `id`, if there is one.
    public func releaseGates(_ id: LedgerID) async throws {
        try await context.storage.write { tx in
            guard let hold = try tx.gateHolds().first(where: { $0.ledgerID == id }) else { return }
            try Self.release(tx, hold)
        }
    }

    /// Every hold for a gate run on record.
    public func gateHolds() async throws -> [GateHold] {
        try await context.storage.read { try $0.gateHolds() }
    }

    static func release(_ tx: any StorageWriter, _ hold: GateHold) throws {
        guard try tx.deleteGateHold(hold.ledgerID) else { return }
        try release(tx, hold.parts)
    }

    /// Releases every hold for a gate run, returning them: what a run does at its start, under
    /// its run lock, where any hold on record is one a killed run left. Each release is said in a
    /// `budget` event on every budget the hold was on.
    public func releaseAllGateHolds() async throws -> [GateHold] {
        let context = self.context
        return try await context.storage.write { tx in
            let holds = try tx.gateHolds()
            for hold in holds {
                try Self.release(tx, hold)
                try Self.noteRelease(tx, context, hold, why: "the run that held it stopped before its gates ended")
            }
            return holds
        }
    }

    /// Releases the holds whose run was killed before it released them, returning how many: past
    /// their time, no gate of theirs is still running. Each release is said in `budget` events.
    static func releaseLapsedGateHolds(_ tx: any StorageWriter, _ context: EngineContext, at now: Timestamp) throws
        -> Int
    {
        var released = 0
        for hold in try tx.gateHolds() where hold.expiresAt <= now {
            try release(tx, hold)
            try noteRelease(
                tx, context, hold, why: "it lapsed at \(hold.expiresAt): its run stopped without releasing it")
            released += 1
        }
        return released
    }

    /// A `budget` event on each budget `hold` was on: what was released, for which patch, and why.
    static func noteRelease(_ tx: any StorageWriter, _ context: EngineContext, _ hold: GateHold, why: String) throws {
        for part in hold.parts {
            try tx.append(
                context.event(
                    .budget, part.scope.description, from: nil, to: nil,
                    reason: "released \(part.amount) held for the gates of patch \(hold.ledgerID): \(why)",
                    at: context.clock.now(),
                    payload: [
                        "operation": .string("gate hold released"), "ledger_id": .string(hold.ledgerID.description),
                        "window": .string(part.windowKey), "released": .string(part.amount.description),
                    ]))
        }
    }
}

/// The budget that refused a gate hold, and why, kept aside from the unit that threw it (the storages
/// turn what a unit throws into their errors).
final class GateRefusal: Sendable {
    let value = Mutex<(BudgetScope, String)?>(nil)

    func set(_ scope: BudgetScope, _ message: String) -> SluiceError {
        value.withLock { $0 = (scope, message) }
        return SluiceError(code: .blocked, message: message)
    }
}
