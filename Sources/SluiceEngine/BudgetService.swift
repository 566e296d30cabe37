import Foundation
import SluiceCore
import SluiceStore

/// Why a hard budget refused to hold an estimate: the task stays queued with this reason.
public struct BudgetRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public var taskID: TaskID
    public var scope: BudgetScope
    public var window: String
    public var message: String

    public var description: String { message }
}

/// A budget with what its current window has spent and holds.
public struct BudgetStatus: Hashable, Sendable {
    public var budget: Budget
    public var window: String
    public var committed: ExactDecimal
    public var held: ExactDecimal

    /// What is left: the limit less committed and held, never below zero.
    public var remaining: ExactDecimal {
        ExactDecimal(units: max(0, budget.limit.units - committed.units - held.units))
    }
}

/// Budgets: limits on spend per scope and window, estimates held before work starts (all or none,
/// in the claim's unit of work), costs committed as they are recorded, soft thresholds fired once
/// per window.
public struct BudgetService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Sets the budget of `scope`, replacing the one there (its windows' spend carries on).
    ///
    /// - Throws: `invalidInput` for a limit that is not above zero, an unknown time zone, or a soft
    ///   threshold outside 1–100.
    @discardableResult
    public func set(
        _ scope: BudgetScope, limit: ExactDecimal, currency: Currency = .usd, window: BudgetWindow = .none,
        timeZone: String = "UTC", soft: [Int] = [], hard: Bool = false
    ) async throws -> Budget {
        let now = context.clock.now()
        // Checked before the unit: bad input changes nothing.
        _ = try Budget(
            scope: scope, limit: limit, currency: currency, window: window, timeZone: timeZone, soft: soft,
            hard: hard, createdAt: now, updatedAt: now)
        let context = self.context
        return try await context.storage.write { tx in
            let existing = try tx.budgets().first { $0.scope == scope }
            if let spend = try tx.budgetSpends(scope).first(where: { $0.committed.units != 0 || $0.held.units != 0 }),
                let previous = try existing?.currency ?? Self.lastCurrency(of: scope, tx), previous != currency
            {
                // Spend is summed in the budget's currency: relabelled, 100 EUR would count as 100 JPY. A
                // removed budget's spend stays on record in the currency it had.
                throw SluiceError.invalidInput(
                    "budget \(scope) \(existing == nil ? "was" : "is") in \(previous) and has spend on record "
                        + "(\(spend.committed) committed, \(spend.held) held in window \(spend.windowKey)): its currency "
                        + "cannot change to \(currency); keep it in \(previous) and record a rate (sluice budget rate "
                        + "set \(currency) \(previous) RATE --date DAY --source TEXT) so that costs in \(currency) count "
                        + "against it")
            }
            let budget = try Budget(
                scope: scope, limit: limit, currency: currency, window: window, timeZone: timeZone, soft: soft,
                hard: hard, createdAt: existing?.createdAt ?? now, updatedAt: now)
            try tx.putBudget(
                budget,
                event: context.event(
                    .budget, scope.description, from: existing == nil ? nil : "set", to: "set", at: now,
                    payload: try Self.payload(budget)))
            // A new limit or new thresholds: the current window's thresholds are judged afresh.
            if let existing, existing.limit != budget.limit || existing.soft != budget.soft,
                try tx.budgetSpend(scope, window: budget.windowKey(at: now)) != nil
            {
                try tx.setSoftFired(scope, window: budget.windowKey(at: now), percent: 0)
            }
            return budget
        }
    }

    /// Removes the budget of `scope`. - Throws: `notFound`.
    @discardableResult
    public func remove(_ scope: BudgetScope) async throws -> Budget {
        let context = self.context
        let now = context.clock.now()
        return try await context.storage.write { tx in
            try tx.deleteBudget(scope) { budget in
                context.event(
                    .budget, scope.description, from: "set", to: nil, reason: "removed by \(context.actor)", at: now,
                    payload: (try? Self.payload(budget)) ?? [:])
            }
        }
    }

    /// Every budget with its current window's spend.
    public func list() async throws -> [BudgetStatus] {
        let now = context.clock.now()
        return try await context.storage.read { tx in
            try tx.budgets().map { try Self.status($0, tx, at: now) }
        }
    }

    /// One budget with its current window's spend, and the spend of every window on record.
    ///
    /// - Throws: `notFound`.
    public func show(_ scope: BudgetScope) async throws -> (BudgetStatus, [BudgetSpend]) {
        let now = context.clock.now()
        return try await context.storage.read { tx in
            guard let budget = try tx.budgets().first(where: { $0.scope == scope }) else {
                throw SluiceError.notFound("budget", scope.description)
            }
            return (try Self.status(budget, tx, at: now), try tx.budgetSpends(scope))
        }
    }

    static func status(_ budget: Budget, _ tx: any StorageReader, at now: Timestamp) throws -> BudgetStatus {
        let window = budget.windowKey(at: now)
        let spend = try tx.budgetSpend(budget.scope, window: window)
        return BudgetStatus(
            budget: budget, window: window, committed: spend?.committed ?? .zero, held: spend?.held ?? .zero)
    }

    static func payload(_ budget: Budget) throws -> [String: JSONValue] {
        guard case .object(let object) = try JSONValue(encoding: budget) else { return [:] }
        return object
    }

    // MARK: - Holds

    /// Holds `estimate` on every budget the task's attempt by `worker` counts against, in the claim's
    /// unit of work: all or none. A hard budget holds it only when committed + held + estimate stays
    /// within its limit (an estimate of zero only while something is left); a soft one always, so its
    /// report shows what is in flight. Nil when no budget applies.
    ///
    /// - Throws: ``BudgetRefusal`` when a hard budget cannot cover the estimate (the unit rolls back,
    ///   so nothing stays held).
    /// Whether a hard budget would refuse the hold, read without writing anything: a claim passes
    /// over such a task to the next. (The hold checks again as it writes.)
    static func refusal(
        _ tx: any StorageReader, _ context: EngineContext, task: TaskRecord, worker: WorkerID,
        estimate: CostEstimate?
    ) throws -> BudgetRefusal? {
        let scopes = Set(BudgetScope.scopes(of: task, worker: worker))
        let applying = try tx.budgets().filter { $0.hard && scopes.contains($0.scope) }
        guard !applying.isEmpty else { return nil }
        let now = context.clock.now()
        var rates = RateBook()
        for budget in applying.sorted(by: { $0.scope < $1.scope }) {
            let window = budget.windowKey(at: now)
            let holding: CostEstimate
            switch try held(estimate, by: budget, window, task, at: now, &rates, tx) {
            case .held(let converted): holding = converted
            case .refused(let refusal): return refusal
            }
            let spend = try tx.budgetSpend(budget.scope, window: window)
            let after =
                Int128(spend?.committed.units ?? 0) + Int128(spend?.held.units ?? 0) + Int128(holding.amount.units)
            let fits =
                holding.amount.units > 0 ? after <= Int128(budget.limit.units) : after < Int128(budget.limit.units)
            if !fits { return limitRefusal(budget, window, task, holding, spend) }
        }
        return nil
    }

    /// What a claim's estimate holds on `budget`, or why the budget refuses it.
    enum Conversion {
        case held(CostEstimate)
        case refused(BudgetRefusal)
    }

    /// The estimate as `budget` holds it, in the budget's currency. No estimate is nothing: in the
    /// budget's own currency for a soft budget; for a hard one, in USD, the currency prices are in
    /// unless an entry says otherwise, so that a hard budget in another currency takes no claim whose
    /// costs it could not count. Refused when no rate converts it, or when the conversion is more than
    /// a budget can count.
    static func held(
        _ estimate: CostEstimate?, by budget: Budget, _ window: String, _ task: TaskRecord, at now: Timestamp,
        _ rates: inout RateBook, _ tx: any StorageReader
    ) throws -> Conversion {
        let given = estimate ?? CostEstimate(amount: .zero, currency: budget.hard ? .usd : budget.currency)
        let converted: CostEstimate?
        do {
            converted = try rates.estimate(given, for: budget, at: now, tx)
        } catch let error as SluiceError where error.code == .invalidInput {
            return .refused(
                BudgetRefusal(
                    taskID: task.taskID, scope: budget.scope, window: window,
                    message: "budget \(budget.scope) cannot count the estimate of task \(task.taskID): \(error.message)"
                ))
        }
        guard let converted else {
            let what =
                estimate == nil
                ? "task \(task.taskID) has no estimate, so its costs are taken to be in USD, the currency of prices"
                : "the estimate of task \(task.taskID) is \(given.amount) \(given.currency)"
            return .refused(
                BudgetRefusal(
                    taskID: task.taskID, scope: budget.scope, window: window,
                    message:
                        "budget \(budget.scope) is in \(budget.currency) and \(what): no rate from \(given.currency) "
                        + "to \(budget.currency) is on record (sluice budget rate set \(given.currency) "
                        + "\(budget.currency) RATE --date DAY --source TEXT"
                        + (estimate == nil ? ", or give the task an estimate in \(budget.currency))" : ")")))
        }
        return .held(converted)
    }

    static func limitRefusal(
        _ budget: Budget, _ window: String, _ task: TaskRecord, _ estimate: CostEstimate, _ spend: BudgetSpend?
    ) -> BudgetRefusal {
        BudgetRefusal(
            taskID: task.taskID, scope: budget.scope, window: window,
            message: "hard budget \(budget.scope) (\(budget.limit) \(budget.currency)"
                + (budget.window == .none ? "" : " per \(budget.window.rawValue), window \(window)")
                + ") cannot cover task \(task.taskID): \(spend?.committed ?? .zero) committed + "
                + "\(spend?.held ?? .zero) held + estimate \(estimate.amount) > \(budget.limit)")
    }

    static func hold(
        _ tx: any StorageWriter, _ context: EngineContext, task: TaskRecord, worker: WorkerID, epoch: Int64,
        estimate: CostEstimate?
    ) throws -> BudgetHold? {
        let scopes = Set(BudgetScope.scopes(of: task, worker: worker))
        let applying = try tx.budgets().filter { scopes.contains($0.scope) }
        guard !applying.isEmpty else { return nil }
        try releaseEnded(tx)
        let now = context.clock.now()
        _ = try releaseLapsedGateHolds(tx, context, at: now)
        var parts: [BudgetHoldPart] = []
        var checks: [(Budget, String, ExactDecimal?)] = []
        var rates = RateBook()
        for budget in applying.sorted(by: { $0.scope < $1.scope }) {
            let window = budget.windowKey(at: now)
            // No estimate holds nothing, and needs something left. One in another currency is held
            // converted, by the rate in force now; a soft budget that cannot convert it holds nothing.
            let holding: CostEstimate
            switch try held(estimate, by: budget, window, task, at: now, &rates, tx) {
            case .held(let converted): holding = converted
            case .refused(let refusal):
                guard budget.hard else { continue }
                throw refusal
            }
            var limit: ExactDecimal?
            if budget.hard {
                // An estimate of zero still needs something left.
                limit = holding.amount.units > 0 ? budget.limit : ExactDecimal(units: budget.limit.units - 1)
            }
            checks.append((budget, window, limit))
            parts.append(BudgetHoldPart(scope: budget.scope, windowKey: window, amount: holding.amount))
        }
        let whole = estimate ?? CostEstimate(amount: .zero, currency: applying[0].currency)
        let hold = BudgetHold(
            taskID: task.taskID, epoch: epoch, workerID: worker, estimate: whole.amount,
            currency: whole.currency, parts: parts, createdAt: now)
        try tx.putHold(hold)
        // The budgets' rows last, in scope order: two units that hold on the same budgets lock their
        // rows in one order, and as briefly as they can (until the commit).
        for ((budget, window, limit), part) in zip(checks, parts) {
            guard
                try tx.changeSpend(budget.scope, window: window, committed: .zero, held: part.amount, limit: limit)
                    != nil
            else {
                throw limitRefusal(
                    budget, window, task, CostEstimate(amount: part.amount, currency: budget.currency),
                    try tx.budgetSpend(budget.scope, window: window))
            }
        }
        return hold
    }

    /// Releases what the hold of a task's claim at `epoch` still holds, and removes it.
    static func release(_ tx: any StorageWriter, _ taskID: TaskID, epoch: Int64) throws {
        guard let hold = try tx.budgetHolds(taskID: taskID).first(where: { $0.epoch == epoch }) else { return }
        try release(tx, hold)
    }

    static func release(_ tx: any StorageWriter, _ hold: BudgetHold) throws {
        try tx.deleteHold(taskID: hold.taskID, epoch: hold.epoch)
        try release(tx, hold.parts)
    }

    /// Takes what `parts` held off their budgets' windows: one write per window, in one order.
    static func release(_ tx: any StorageWriter, _ parts: [BudgetHoldPart]) throws {
        var held: [SpendKey: Int64] = [:]
        for part in parts where part.amount.units > 0 {
            let key = SpendKey(scope: part.scope, window: part.windowKey)
            held[key] = try sum(held[key, default: 0], part.amount.units)
        }
        for key in held.keys.sorted() {
            _ = try tx.changeSpend(
                key.scope, window: key.window, committed: .zero, held: ExactDecimal(units: -(held[key] ?? 0)),
                limit: nil)
        }
    }

    /// Releases the holds of claims that are over however they ended (the task moved on to another
    /// epoch or state): a hold never outlives its claim's lease.
    static func releaseEnded(_ tx: any StorageWriter) throws {
        for hold in try tx.endedBudgetHolds() { try release(tx, hold) }
    }

    /// What the hard budgets over a claim leave for its work, in `currency`: the least, over each hard
    /// budget of that currency the attempt counts against, of its limit less what is committed and
    /// what other claims hold. Nil when no such budget applies.
    public func cap(for task: TaskRecord, worker: WorkerID, epoch: Int64, currency: Currency = .usd) async throws
        -> ExactDecimal?
    {
        let now = context.clock.now()
        let scopes = Set(BudgetScope.scopes(of: task, worker: worker))
        return try await context.storage.read { tx in
            let applying = try tx.budgets().filter { $0.hard && $0.currency == currency && scopes.contains($0.scope) }
            guard !applying.isEmpty else { return nil }
            let own = try tx.budgetHolds(taskID: task.taskID).first { $0.epoch == epoch }
            var least: Int64?
            for budget in applying {
                let window = budget.windowKey(at: now)
                let spend = try tx.budgetSpend(budget.scope, window: window)
                let mine = own?.parts.first { $0.scope == budget.scope && $0.windowKey == window }?.amount.units ?? 0
                let left =
                    budget.limit.units - (spend?.committed.units ?? 0) - max(0, (spend?.held.units ?? 0) - mine)
                least = min(least ?? left, left)
            }
            return ExactDecimal(units: max(0, least ?? 0))
        }
    }

    // MARK: - Commits

    /// A budget's window.
    struct SpendKey: Hashable, Comparable, Sendable {
        var scope: BudgetScope
        var window: String
        static func < (lhs: SpendKey, rhs: SpendKey) -> Bool { (lhs.scope, lhs.window) < (rhs.scope, rhs.window) }
    }

    /// What recorded costs took from their claims' holds, worked out while the holds still stand (before
    /// the unit ends the claim and releases the rest), and written to the budgets' windows last.
    struct Consumption: Sendable {
        /// The budgets, read once for the unit.
        var budgets: [Budget] = []
        /// Per window: the part of a hold the costs used up, still counted as held there.
        var released: [SpendKey: Int64] = [:]
        /// Per unpriced cost: what its claim still held, per window, committed in its place.
        var unpriced: [(CostRecord, charged: [SpendKey: Int64])] = []
        /// Per priced cost that a budget cannot count (no rate from its currency): what its claim still
        /// held there, per window, committed in its place.
        var uncounted: [CostID: [SpendKey: Int64]] = [:]
        /// The currency rates, read once for the unit when a cost is in another currency than a budget.
        var rates = RateBook()
    }

    /// Shrinks each claim's hold by what its recorded work spent, on the budgets the cost counts
    /// against (a cost that names the claim but not its project, its request or its worker frees
    /// nothing there). An unpriced cost (no amount) is unknown spend, never free: what its claim still
    /// holds after the unit's priced costs is taken in its place. Only the holds change here.
    static func consume(_ tx: any StorageWriter, _ costs: [CostRecord]) throws -> Consumption {
        var consumption = Consumption()
        guard !costs.isEmpty else { return consumption }
        consumption.budgets = try tx.budgets()
        guard !consumption.budgets.isEmpty else { return consumption }
        let byScope = Dictionary(consumption.budgets.map { ($0.scope, $0) }, uniquingKeysWith: { first, _ in first })
        var holds: [String: BudgetHold] = [:]
        // Priced costs first: they use the hold up, and an unpriced one is charged what is left.
        for cost in costs.filter({ !$0.isUnpriced }) + costs.filter(\.isUnpriced) {
            guard case .string(let taskText)? = cost.metadata["task_id"], let taskID = try? TaskID(parsing: taskText),
                case .number(let number)? = cost.metadata["epoch"], let epoch = Int64(exactly: number as NSNumber),
                var hold = try holds["\(taskID)/\(epoch)"]
                    ?? tx.budgetHolds(taskID: taskID).first(where: { $0.epoch == epoch })
            else {
                if cost.isUnpriced { consumption.unpriced.append((cost, [:])) }
                continue
            }
            var charged: [SpendKey: Int64] = [:]
            for index in hold.parts.indices where hold.parts[index].scope.covers(cost) {
                // A part is held in its budget's currency. A priced cost uses it up by what it counts
                // there, converted; one that no rate converts, like an unpriced one (no amount to
                // convert), is unknown spend there and takes the whole of what is left.
                let currency = byScope[hold.parts[index].scope]?.currency ?? hold.currency
                var counted = Int64.max
                if let amount = cost.amount,
                    let converted = try consumption.rates.counted(
                        amount, cost.currency, in: currency, at: cost.recordedAt, tx)
                {
                    counted = converted.amount.units
                }
                let used = min(hold.parts[index].amount.units, counted)
                guard used > 0 else { continue }
                hold.parts[index].amount = ExactDecimal(units: hold.parts[index].amount.units - used)
                let key = SpendKey(scope: hold.parts[index].scope, window: hold.parts[index].windowKey)
                consumption.released[key, default: 0] += used
                if counted == Int64.max { charged[key] = used }
            }
            if cost.isUnpriced {
                consumption.unpriced.append((cost, charged))
            } else if !charged.isEmpty {
                consumption.uncounted[cost.costID] = charged
            }
            holds["\(taskID)/\(epoch)"] = hold
        }
        for hold in holds.values { try tx.putHold(hold) }
        return consumption
    }

    /// Commits recorded costs to every budget that covers them, in the window of their time, after
    /// ``consume(_:_:)`` took them out of their claims' holds: committed spend is never capped, so
    /// work that cost more than its hold counts in full. Fires each soft threshold a window's
    /// committed spend crosses, once; says in an event what unpriced usage was charged, or that
    /// nothing was (no estimate held), and which costs a budget in another currency did not count.
    ///
    /// `releasing` (what holds the unit ended still held) is taken off in the same writes.
    static func commit(
        _ tx: any StorageWriter, _ context: EngineContext, _ costs: [CostRecord], _ consumption: Consumption,
        releasing: [BudgetHoldPart] = []
    ) throws {
        let budgets = consumption.budgets
        guard !budgets.isEmpty, !costs.isEmpty else { return try release(tx, releasing) }
        var rates = consumption.rates
        var committed: [SpendKey: Int64] = [:]
        var uncounted: [(Budget, CostRecord)] = []
        var converted: [(Budget, CostRecord, ExactDecimal, CurrencyRate)] = []
        for cost in costs {
            // Unpriced: no amount here; what it was charged comes from the consumption below.
            guard let amount = cost.amount else { continue }
            for budget in budgets where budget.scope.covers(cost) {
                guard
                    let counted = try rates.counted(amount, cost.currency, in: budget.currency, at: cost.recordedAt, tx)
                else {
                    uncounted.append((budget, cost))
                    continue
                }
                if let rate = counted.rate { converted.append((budget, cost, counted.amount, rate)) }
                let key = SpendKey(scope: budget.scope, window: budget.windowKey(at: cost.recordedAt))
                committed[key, default: 0] = try Self.sum(committed[key, default: 0], counted.amount.units)
            }
        }
        for charged in consumption.unpriced.map(\.charged) + consumption.uncounted.values {
            for (key, units) in charged { committed[key] = try Self.sum(committed[key, default: 0], units) }
        }
        var released = consumption.released
        for part in releasing where part.amount.units > 0 {
            let key = SpendKey(scope: part.scope, window: part.windowKey)
            released[key] = try sum(released[key, default: 0], part.amount.units)
        }
        let now = context.clock.now()
        let byScope = Dictionary(budgets.map { ($0.scope, $0) }, uniquingKeysWith: { first, _ in first })
        // The budgets' rows last, in one order.
        for key in Set(committed.keys).union(released.keys).sorted() {
            guard
                let spend = try tx.changeSpend(
                    key.scope, window: key.window, committed: ExactDecimal(units: committed[key] ?? 0),
                    held: ExactDecimal(units: -(released[key] ?? 0)), limit: nil),
                let budget = byScope[key.scope], (committed[key] ?? 0) > 0
            else { continue }
            let crossed = budget.thresholdsCrossed(committed: spend.committed, fired: spend.softFired)
            guard let highest = crossed.last else { continue }
            for percent in crossed {
                try tx.append(
                    context.event(
                        .budget, key.scope.description, from: nil, to: nil,
                        reason: "\(percent)% of \(budget.limit) \(budget.currency) reached in window \(key.window): "
                            + "\(spend.committed) committed",
                        at: now,
                        payload: [
                            "operation": .string("soft threshold"), "percent": .number(Decimal(percent)),
                            "window": .string(key.window), "committed": .string(spend.committed.description),
                            "limit": .string(budget.limit.description), "currency": .string(budget.currency.code),
                        ]))
            }
            try tx.setSoftFired(key.scope, window: key.window, percent: highest)
        }
        // Unpriced usage on every budget it counts against: what was charged for it, or that nothing was.
        for (cost, charged) in consumption.unpriced {
            for budget in budgets.sorted(by: { $0.scope < $1.scope }) where budget.scope.covers(cost) {
                let window = budget.windowKey(at: cost.recordedAt)
                let amount = charged.first { $0.key.scope == budget.scope }.map { ExactDecimal(units: $0.value) }
                try tx.append(
                    context.event(
                        .budget, budget.scope.description, from: nil, to: nil,
                        reason: "cost \(cost.costID) is unpriced ("
                            + (cost.metadata["unpriced_reason"]?.stringValue ?? "no price covers it") + "): "
                            + (amount.map {
                                "its claim's held estimate, \($0) \(budget.currency), counted in its place"
                            }
                                ?? "no held estimate was left for it (none was held, or priced costs used it up), "
                                + "so nothing was counted"),
                        at: now,
                        payload: [
                            "operation": .string("unpriced"), "cost_id": .string(cost.costID.description),
                            "window": .string(window), "counted": .string((amount ?? .zero).description),
                        ]))
            }
        }
        // A cost in another currency counts through the rate in force at its time, said with the rate's
        // date and source; without one it is not counted, said once per unit and budget.
        for (budget, cost, counted, rate) in converted {
            try tx.append(
                context.event(
                    .budget, budget.scope.description, from: nil, to: nil,
                    reason: "cost \(cost.costID) of \(cost.amount ?? .zero) \(cost.currency) counted as \(counted) "
                        + "\(budget.currency) at \(rate.summary)",
                    at: now,
                    payload: [
                        "operation": .string("converted"), "cost_id": .string(cost.costID.description),
                        "amount": .string((cost.amount ?? .zero).description), "currency": .string(cost.currency.code),
                        "counted": .string(counted.description), "rate": .string(rate.rate.description),
                        "quoted_on": .string(rate.quotedOn), "source": .string(rate.source),
                        "rate_recorded_at": .string(rate.recordedAt.description),
                    ]))
        }
        // A cost no rate converts: its claim's held estimate counts in its place where there is one left;
        // otherwise it is not counted, said once per unit and budget.
        var warned: Set<BudgetScope> = []
        for (budget, cost) in uncounted {
            let charged = consumption.uncounted[cost.costID]?.first { $0.key.scope == budget.scope }
                .map { ExactDecimal(units: $0.value) }
            guard charged != nil || warned.insert(budget.scope).inserted else { continue }
            try tx.append(
                context.event(
                    .budget, budget.scope.description, from: nil, to: nil,
                    reason: "cost \(cost.costID) is in \(cost.currency), the budget in \(budget.currency), and no rate "
                        + "from \(cost.currency) to \(budget.currency) was in force at \(cost.recordedAt): "
                        + (charged.map { "its claim's held estimate, \($0) \(budget.currency), counted in its place" }
                            ?? "not counted"),
                    at: now,
                    payload: [
                        "operation": .string(charged == nil ? "not counted" : "counted held estimate"),
                        "cost_id": .string(cost.costID.description),
                        "counted": .string((charged ?? .zero).description),
                    ]))
        }
    }

    /// Takes a deleted cost back out of the windows it was committed to (never below zero: spend
    /// committed before its budget existed was never counted).
    static func uncommit(_ tx: any StorageWriter, _ cost: CostRecord) throws {
        var rates = RateBook()
        for budget in try tx.budgets().sorted(by: { $0.scope < $1.scope }) where budget.scope.covers(cost) {
            // An unpriced record's held estimate stays counted: its real cost is still unknown.
            guard let priced = cost.amount else { return }
            // What it counted: rates are never changed or removed, so the conversion comes out the same.
            guard
                let amount = try rates.counted(priced, cost.currency, in: budget.currency, at: cost.recordedAt, tx)?
                    .amount
            else { continue }
            let window = budget.windowKey(at: cost.recordedAt)
            guard let spend = try tx.budgetSpend(budget.scope, window: window), spend.committed.units > 0 else {
                continue
            }
            let back = min(spend.committed.units, amount.units)
            _ = try tx.changeSpend(
                budget.scope, window: window, committed: ExactDecimal(units: -back), held: .zero, limit: nil)
        }
    }

    static func sum(_ lhs: Int64, _ rhs: Int64) throws -> Int64 {
        let (sum, overflow) = lhs.addingReportingOverflow(rhs)
        guard !overflow else { throw SluiceError.invalidInput("a budget's committed spend would overflow") }
        return sum
    }
}

/// The currency rates of one unit of work, read from it the first time an amount needs converting.
struct RateBook: Sendable {
    private var loaded: [CurrencyRate]?

    /// `amount` of `currency` as it counts in `target` at `time`: itself in its own currency; converted
    /// by the rate in force then (returned with it) in another; nil when no rate was in force.
    mutating func counted(
        _ amount: ExactDecimal, _ currency: Currency, in target: Currency, at time: Timestamp, _ tx: any StorageReader
    ) throws -> (amount: ExactDecimal, rate: CurrencyRate?)? {
        guard currency != target else { return (amount, nil) }
        if loaded == nil { loaded = try tx.currencyRates() }
        guard let rate = CurrencyRate.inForce(loaded ?? [], from: currency, to: target, at: time) else { return nil }
        return (try rate.convert(amount), rate)
    }

    /// An estimate as a budget holds it, in the budget's currency; nil when no rate converts it.
    mutating func estimate(_ estimate: CostEstimate, for budget: Budget, at time: Timestamp, _ tx: any StorageReader)
        throws -> CostEstimate?
    {
        try counted(estimate.amount, estimate.currency, in: budget.currency, at: time, tx).map {
            CostEstimate(amount: $0.amount, currency: budget.currency)
        }
    }
}
