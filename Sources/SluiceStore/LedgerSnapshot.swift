import Foundation
import SluiceCore

/// A whole ledger as the ``StorageReader`` API reads it: every record, every diff and every event.
///
/// `sluice db copy` reads one from the source, imports it into the destination (see
/// ``LedgerImporting``) and reads one back from the destination: the copy is verified when the two
/// are equal, record by record and event by event, and so are their digests.
package struct LedgerSnapshot: Hashable, Sendable {
    /// Every worker, by id.
    package var workers: [WorkerRecord]
    /// Every ledger entry with its state history, by ledger id.
    package var patches: [PatchLedgerEntry]
    /// The diff, commits, base and author of every submitted patch, by ledger id.
    package var sources: [LedgerID: PatchSource]
    /// Every gate, by id.
    package var gates: [TestGateRecord]
    /// Every cost record that was not deleted, by id.
    package var costs: [CostRecord]
    /// Every task, by id.
    package var tasks: [TaskRecord]
    /// The event log, in sequence order.
    package var events: [Event]
    /// Every budget, by scope.
    package var budgets: [Budget] = []
    /// The spend of every budget window on record, by scope and window.
    package var budgetSpends: [BudgetSpend] = []
    /// The holds of claims in flight, by task and epoch.
    package var budgetHolds: [BudgetHold] = []
    /// Every currency rate, by pair and time recorded.
    package var currencyRates: [CurrencyRate] = []
    /// Every test quarantine, released ones too, by gate and test.
    package var testQuarantines: [TestQuarantine] = []
    /// Totals per currency, from the running sums (derived: not imported, compared).
    package var costTotals: [CostTotal]
    /// Totals per resource type and currency, from the running sums (derived: not imported, compared).
    package var costBreakdown: [CostBreakdownRow]

    package init(
        workers: [WorkerRecord] = [], patches: [PatchLedgerEntry] = [], sources: [LedgerID: PatchSource] = [:],
        gates: [TestGateRecord] = [], costs: [CostRecord] = [], tasks: [TaskRecord] = [], events: [Event] = [],
        costTotals: [CostTotal] = [], costBreakdown: [CostBreakdownRow] = []
    ) {
        self.workers = workers.sorted { $0.workerID < $1.workerID }
        self.patches = patches.sorted { $0.ledgerID < $1.ledgerID }
        self.sources = sources
        self.gates = gates.sorted { $0.gateID < $1.gateID }
        self.costs = costs.sorted { $0.costID < $1.costID }
        self.tasks = tasks.sorted { $0.taskID < $1.taskID }
        self.events = events.sorted { $0.sequence < $1.sequence }
        self.costTotals = costTotals
        self.costBreakdown = costBreakdown
    }

    /// Reads the whole ledger in the unit of work `reader` belongs to (one snapshot).
    package static func read(_ reader: any StorageReader) throws -> LedgerSnapshot {
        let patches = try reader.patches(PatchFilter())
        var sources: [LedgerID: PatchSource] = [:]
        for entry in patches {
            if let source = try reader.patchSource(entry.ledgerID) { sources[entry.ledgerID] = source }
        }
        var snapshot = LedgerSnapshot(
            workers: try reader.workers(state: nil, type: nil), patches: patches, sources: sources,
            gates: try reader.gates(GateFilter()), costs: try reader.costs(CostFilter(), limit: nil),
            tasks: try reader.tasks(TaskFilter()), events: try reader.events(entityID: nil, after: 0, limit: nil),
            costTotals: try reader.costTotals(CostFilter()), costBreakdown: try reader.costBreakdown(CostFilter()))
        snapshot.budgets = try reader.budgets()
        snapshot.budgetSpends = try reader.budgetSpends(nil)
        snapshot.budgetHolds = try reader.budgetHolds(taskID: nil)
        snapshot.currencyRates = try reader.currencyRates()
        snapshot.testQuarantines = try reader.testQuarantines(gate: nil)
        return snapshot
    }

    // MARK: - Summary

    /// How many of each kind the ledger holds.
    package struct Counts: Hashable, Sendable, Codable {
        package var workers: Int
        package var patches: Int
        /// Submitted patches: those with a stored diff.
        package var patchSources: Int
        package var gates: Int
        package var costs: Int
        package var tasks: Int
        /// Budgets, and the windows of spend and the holds on record with them.
        package var budgets: Int
        package var budgetWindows: Int
        package var budgetHolds: Int
        package var currencyRates: Int
        package var testQuarantines: Int
        package var events: Int
        /// The highest event sequence number (0 for an empty log).
        package var lastSequence: Int64

        enum CodingKeys: String, CodingKey {
            case workers, patches, gates, costs, tasks, budgets, events
            case budgetWindows = "budget_windows"
            case budgetHolds = "budget_holds"
            case currencyRates = "currency_rates"
            case testQuarantines = "test_quarantines"
            case patchSources = "patch_sources"
            case lastSequence = "last_sequence"
        }
    }

    package var counts: Counts {
        Counts(
            workers: workers.count, patches: patches.count, patchSources: sources.count, gates: gates.count,
            costs: costs.count, tasks: tasks.count, budgets: budgets.count, budgetWindows: budgetSpends.count,
            budgetHolds: budgetHolds.count, currencyRates: currencyRates.count,
            testQuarantines: testQuarantines.count, events: events.count,
            lastSequence: events.last?.sequence ?? 0)
    }

    /// Whether the ledger holds no record and no event.
    package var isEmpty: Bool {
        workers.isEmpty && patches.isEmpty && gates.isEmpty && costs.isEmpty && tasks.isEmpty && events.isEmpty
            && budgets.isEmpty && budgetSpends.isEmpty && budgetHolds.isEmpty && currencyRates.isEmpty
            && testQuarantines.isEmpty
    }

    /// SHA-256, in hex, of every record, diff and event in a canonical form: each kind in id (or
    /// sequence) order, each record as its JSON export with sorted keys, each diff as its bytes.
    /// Two databases that hold the same ledger give the same digest, whatever their backend.
    package func digest() throws -> String {
        let encoder = SluiceJSON.encoder()
        var bytes: [UInt8] = []
        func section<T: Encodable>(_ name: String, _ values: [T]) throws {
            bytes += Array("\(name) \(values.count)\n".utf8)
            for value in values {
                bytes += try encoder.encode(value)
                bytes.append(0x0A)
            }
        }
        try section("workers", workers)
        try section("patches", patches)
        bytes += Array("patch_sources \(sources.count)\n".utf8)
        for id in sources.keys.sorted() {
            guard let source = sources[id] else { continue }
            let fields = [
                id.description, source.sha256, source.message, source.baseCommit, source.testedCommit,
                source.landedCommit, source.madeOn, source.author, source.priority.rawValue,
            ]
            bytes += try encoder.encode(fields)
            bytes += Array(" \(source.bytes.count)\n".utf8)
            bytes += source.bytes
            bytes.append(0x0A)
        }
        try section("gates", gates)
        try section("costs", costs)
        try section("tasks", tasks)
        try section("events", events)
        try section("cost_totals", costTotals)
        try section("cost_breakdown", costBreakdown)
        try section("budgets", budgets)
        try section("budget_spend", budgetSpends)
        try section("budget_holds", budgetHolds)
        try section("currency_rates", currencyRates)
        try section("test_quarantines", testQuarantines)
        return SHA256.hex(bytes)
    }

    /// The first way `other` differs from this ledger, in one phrase ("patch 01… differs"); nil when
    /// they are equal.
    package func firstDifference(from other: LedgerSnapshot) -> String? {
        if self == other { return nil }
        let mine = counts
        let theirs = other.counts
        if mine != theirs {
            return "the counts differ (source \(mine.summary), destination \(theirs.summary))"
        }
        if let index = workers.indices.first(where: { workers[$0] != other.workers[$0] }) {
            return "worker \(workers[index].workerID) differs"
        }
        if let index = patches.indices.first(where: { patches[$0] != other.patches[$0] }) {
            return "patch \(patches[index].ledgerID) differs"
        }
        if let id = sources.keys.sorted().first(where: { sources[$0] != other.sources[$0] }) {
            return "the diff, commits or priority of patch \(id) differ"
        }
        if let index = gates.indices.first(where: { gates[$0] != other.gates[$0] }) {
            return "gate \(gates[index].gateID) differs"
        }
        if let index = costs.indices.first(where: { costs[$0] != other.costs[$0] }) {
            return "cost record \(costs[index].costID) differs"
        }
        if let index = tasks.indices.first(where: { tasks[$0] != other.tasks[$0] }) {
            return "task \(tasks[index].taskID) differs"
        }
        if let index = events.indices.first(where: { events[$0] != other.events[$0] }) {
            return "event \(events[index].sequence) differs"
        }
        if costTotals != other.costTotals { return "the cost totals differ" }
        if costBreakdown != other.costBreakdown { return "the cost breakdown differs" }
        if budgets != other.budgets { return "the budgets differ" }
        if budgetSpends != other.budgetSpends { return "the budgets' spend differs" }
        if budgetHolds != other.budgetHolds { return "the budgets' holds differ" }
        if currencyRates != other.currencyRates { return "the currency rates differ" }
        return "the test quarantines differ"
    }
}

extension LedgerSnapshot.Counts {
    /// "3 workers, 5 patches (2 with diffs), 2 gates, 3 cost records, 4 tasks, 1 budgets (2 windows,
    /// 0 holds, 1 currency rates), 0 test quarantines, 40 events".
    package var summary: String {
        "\(workers) workers, \(patches) patches (\(patchSources) with diffs), \(gates) gates, \(costs) cost records, "
            + "\(tasks) tasks, \(budgets) budgets (\(budgetWindows) windows, \(budgetHolds) holds, "
            + "\(currencyRates) currency rates), \(testQuarantines) test quarantines, \(events) events"
    }
}
