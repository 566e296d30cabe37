import SluiceCore

/// Which patch ledger entries a list covers.
public struct PatchFilter: Hashable, Sendable {
    public var projectID: String?
    public var state: PatchState?
    public var workstreamID: String?
    /// The most entries listed (the newest); nil lists all.
    public var limit: Int?

    public init(projectID: String? = nil, state: PatchState? = nil, workstreamID: String? = nil, limit: Int? = nil) {
        self.projectID = projectID
        self.state = state
        self.workstreamID = workstreamID
        self.limit = limit
    }
}

/// Which tasks a list covers.
public struct TaskFilter: Hashable, Sendable {
    public var state: TaskState?
    public var projectID: String?
    /// The most tasks listed (the newest); nil lists all.
    public var limit: Int?

    public init(state: TaskState? = nil, projectID: String? = nil, limit: Int? = nil) {
        self.state = state
        self.projectID = projectID
        self.limit = limit
    }
}

/// Which gates a list covers.
public struct GateFilter: Hashable, Sendable {
    public var projectID: String?
    public var state: GateState?
    public var gateType: GateType?
    public var name: String?
    /// Only the gate runs of this patch (`metadata.ledger_id`, as the pipeline records it).
    public var ledgerID: String?
    /// Only the gate runs the pipeline recorded as this kind of check (`metadata.check`: `base` for a
    /// check of the target branch without a patch, `rerun 1` …).
    public var check: String?
    /// The most gates listed (the newest); nil lists all.
    public var limit: Int?

    public init(
        projectID: String? = nil, state: GateState? = nil, gateType: GateType? = nil, name: String? = nil,
        ledgerID: String? = nil, check: String? = nil, limit: Int? = nil
    ) {
        self.projectID = projectID
        self.state = state
        self.gateType = gateType
        self.name = name
        self.ledgerID = ledgerID
        self.check = check
        self.limit = limit
    }
}

/// A change to one record, computed from its current value inside the storage transaction.
///
/// It returns the record after the change and the event to append; it throws to abort the
/// transaction (nothing is written).
public typealias Change<Record> = @Sendable (Record) throws -> (Record, Event)

/// One step of a unit of work: changes made through the writer, inside the transaction
/// ``Storage/write(_:)`` opened. Steps compose: a body may run several.
public typealias Step<T> = @Sendable (any StorageWriter) throws -> T

/// Where the services keep their records.
///
/// Work is done in units: ``write(_:)`` runs its body in one transaction, so every change of one
/// step (a transition, its event, the commits it records, a cost) commits together or not at all;
/// ``read(_:)`` runs its body on one consistent snapshot, concurrently with other reads.
///
/// The bodies are synchronous on purpose: a transaction is never held open across a suspension
/// (a gate run, a git command), and neither backend blocks the cooperative thread pool while it
/// waits for its database. Implementations must pass `StorageConformance` in the test suite.
public protocol Storage: Sendable {
    /// Runs `body` in one read-write transaction; any throw rolls everything back.
    ///
    /// - Throws: what `body` throws; ``SluiceError`` (`storage`) when the database fails.
    func write<T: Sendable>(_ body: @escaping @Sendable (any StorageWriter) throws -> T) async throws -> T
    /// Runs `body` on one snapshot of the database.
    func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T
    /// Runs `body` on one snapshot in which the event log is settled: every event numbered at or
    /// below the newest it sees is in it, or never will be (its writer rolled back). Readers of the
    /// log's cursor (`events --after`, `--follow`, a whole-ledger copy) read here.
    ///
    /// Where every snapshot is settled (SQLite, whose writers commit one at a time) it is ``read(_:)``;
    /// a backend whose writers commit concurrently waits for the writers in flight.
    func readSettled<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T
    /// Events in log order after `sequence`, for one entity when `entityID` is given, at most `limit`,
    /// read as a settled prefix: a follower that asks again with the last sequence it saw gets every
    /// event exactly once, in one order. By default one ``readSettled(_:)``; a backend may read it
    /// in fewer round trips.
    func events(entityID: String?, after sequence: Int64, limit: Int?) async throws -> [Event]
}

extension Storage {
    public func readSettled<T: Sendable>(
        _ body: @escaping @Sendable (any StorageReader) throws -> T
    ) async throws -> T {
        try await read(body)
    }
}

/// A database several hosts share offers locks that hold as long as their holder lives: what
/// `sluice run` takes so that two hosts never land on the same branch at once.
public protocol SharedLocking: Sendable {
    /// Takes the lock called `name` without waiting; nil when someone else holds it. A lock whose
    /// holder dies (its process killed, its host gone) is released by the database.
    func tryLock(_ name: String) async throws -> (any HeldLock)?
}

/// Records per state, by kind of record: what `sluice status` shows.
public struct StateCounts: Sendable, Hashable {
    public var tasks: [String: Int]
    public var patches: [String: Int]
    public var workers: [String: Int]

    public init(tasks: [String: Int] = [:], patches: [String: Int] = [:], workers: [String: Int] = [:]) {
        self.tasks = tasks
        self.patches = patches
        self.workers = workers
    }
}

/// A lock taken through ``SharedLocking``.
public protocol HeldLock: Sendable {
    /// Lets go of the lock.
    func release() async
}

/// What a unit of work can read.
public protocol StorageReader {
    // MARK: - Workers

    /// The worker with this id, if any.
    func worker(_ id: WorkerID) throws -> WorkerRecord?
    /// Workers, newest first, filtered by state and type when given.
    func workers(state: WorkerState?, type: WorkerType?) throws -> [WorkerRecord]
    /// Non-terminal workers whose lease is older than `seconds` by the database's clock.
    func staleWorkers(olderThan seconds: Double) throws -> [WorkerRecord]

    // MARK: - Patches

    /// The diff and pipeline commits of a submitted patch.
    func patchSource(_ id: LedgerID) throws -> PatchSource?
    /// The priorities of the submitted patches in `state` that are not `normal`, by ledger id.
    func patchPriorities(state: PatchState) throws -> [LedgerID: PatchPriority]
    /// The entry with this ledger id, with its state history.
    func patch(_ id: LedgerID) throws -> PatchLedgerEntry?
    /// The entry carrying this patch id, with its state history.
    func patch(patchID: PatchID) throws -> PatchLedgerEntry?
    /// Entries with their state histories, newest first, at most `filter.limit`.
    func patches(_ filter: PatchFilter) throws -> [PatchLedgerEntry]

    // MARK: - Gates

    /// The gate with this id.
    func gate(_ id: GateID) throws -> TestGateRecord?
    /// Gates, newest first.
    func gates(_ filter: GateFilter) throws -> [TestGateRecord]

    // MARK: - Costs

    /// The cost record with this id.
    func cost(_ id: CostID) throws -> CostRecord?
    /// Cost records, newest first, at most `limit`.
    func costs(_ filter: CostFilter, limit: Int?) throws -> [CostRecord]
    /// Exact totals per currency, from the running sums.
    func costTotals(_ filter: CostFilter) throws -> [CostTotal]
    /// Exact totals per resource type and currency, from the running sums.
    func costBreakdown(_ filter: CostFilter) throws -> [CostBreakdownRow]
    /// Exact totals per `key` and currency over the UTC days of `range`, by key then currency: from
    /// the daily running sums for project, model and resource type, from the records otherwise.
    func costReport(by key: CostReportKey, _ range: CostReportRange) throws -> [CostReportRow]
    /// The records over the UTC days of `range` whose agent reported a cost that disagrees with the
    /// priced amount (metadata `reported_disagrees` true), oldest first, from their own index.
    func disagreeingCosts(_ range: CostReportRange) throws -> [CostRecord]

    // MARK: - Tasks

    /// The task with this id.
    func task(_ id: TaskID) throws -> TaskRecord?
    /// Tasks, newest first, at most `filter.limit`.
    func tasks(_ filter: TaskFilter) throws -> [TaskRecord]

    // MARK: - Budgets

    /// Every budget, by scope.
    func budgets() throws -> [Budget]
    /// The spend of one window of a budget's scope; nil before anything was held or committed there.
    func budgetSpend(_ scope: BudgetScope, window: String) throws -> BudgetSpend?
    /// The spend of every window of `scope` (of every scope when nil), by scope and window.
    func budgetSpends(_ scope: BudgetScope?) throws -> [BudgetSpend]
    /// The holds of one task's claims (of every task when nil), by task and epoch.
    func budgetHolds(taskID: TaskID?) throws -> [BudgetHold]
    /// The holds whose claim is over: their task is gone, or no longer running at the hold's epoch.
    func endedBudgetHolds() throws -> [BudgetHold]
    /// Every currency rate on record, by pair and time recorded.
    func currencyRates() throws -> [CurrencyRate]
    /// The holds for patches' gate runs, by ledger id.
    func gateHolds() throws -> [GateHold]
    /// The tests kept out of their gates' verdicts, and those released since, by gate and test; of one gate when `gate` is given.
    func testQuarantines(gate: String?) throws -> [TestQuarantine]

    // MARK: - Counts

    /// How many tasks, patches and workers are in each state (states with none are absent), counted
    /// by the database rather than decoded record by record.
    func stateCounts() throws -> StateCounts

    // MARK: - Events

    /// Events in log order, for one entity when `entityID` is given.
    ///
    /// The log is a cursor that never skips when read through ``Storage/readSettled(_:)`` (as
    /// ``Storage/events(entityID:after:limit:)`` does): a follower that asks again with the last
    /// sequence it saw gets every event exactly once, in one order, whatever writers run concurrently.
    func events(entityID: String?, after sequence: Int64, limit: Int?) throws -> [Event]
}

/// What a unit of work can change. Every change appends its event: nothing changes a record silently.
public protocol StorageWriter: StorageReader {
    // MARK: - Workers

    /// Stores a new worker and its creation event.
    /// - Throws: ``SluiceError`` (`conflict`) when the id is taken.
    func insertWorker(_ worker: WorkerRecord, event: Event) throws
    /// Changes a worker with a compare-and-set on the state read.
    /// - Throws: `notFound`, whatever `change` throws, `lostRace`.
    func updateWorker(_ id: WorkerID, _ change: Change<WorkerRecord>) throws -> WorkerRecord
    /// Renews a non-terminal worker's lease on the database's clock, records `at` as its last
    /// heartbeat and appends `event`.
    /// - Throws: `notFound` for an unknown worker, `invalidTransition` for a stopped or crashed one.
    func renewLease(_ id: WorkerID, at: Timestamp, event: Event) throws -> WorkerRecord

    // MARK: - Patches

    /// Stores a new ledger entry, its creation event and, for a submitted patch, its diff
    /// (content-addressed: the same bytes are stored once).
    func insertPatch(_ entry: PatchLedgerEntry, event: Event, source: PatchSource?) throws
    /// Records the commits the pipeline applied on, tested and landed (nil leaves a value as it
    /// is) and appends `event`. - Throws: `notFound` for a patch without a diff.
    func recordCommits(_ id: LedgerID, base: String?, tested: String?, landed: String?, event: Event) throws
    /// Sets a submitted patch's priority and appends `event`. - Throws: `notFound` for a patch without a diff.
    func setPatchPriority(_ id: LedgerID, _ priority: PatchPriority, event: Event) throws
    /// Changes a ledger entry with a compare-and-set on the state read.
    func updatePatch(_ id: LedgerID, _ change: Change<PatchLedgerEntry>) throws -> PatchLedgerEntry

    // MARK: - Gates

    /// Stores a new gate and its creation event.
    func insertGate(_ gate: TestGateRecord, event: Event) throws
    /// Changes a gate with a compare-and-set on the state read.
    func updateGate(_ id: GateID, _ change: Change<TestGateRecord>) throws -> TestGateRecord

    // MARK: - Costs

    /// Stores cost records (one, or an import), each with its event, and updates the running totals.
    /// - Throws: `invalidInput` when a currency's total would pass what the ledger holds exactly.
    func insertCosts(_ costs: [(CostRecord, Event)]) throws
    /// Deletes a cost record; the event (made from the deleted record) keeps what was deleted.
    func deleteCost(_ id: CostID, event: @Sendable (CostRecord) -> Event) throws -> CostRecord

    // MARK: - Tasks

    /// Stores a new task and its creation event.
    /// - Throws: ``SluiceError`` (`conflict`) when the id is taken.
    func insertTask(_ task: TaskRecord, event: Event) throws
    /// Changes a task with a compare-and-set on the state and the epoch read: a claim taken over
    /// meanwhile (requeued and claimed again, back in the same state) still loses.
    /// - Throws: `notFound`, whatever `change` throws, `lostRace`.
    func updateTask(_ id: TaskID, _ change: Change<TaskRecord>) throws -> TaskRecord
    /// The same for a task this unit has just read (a claim's ``nextTaskToClaim(projectID:agent:)``),
    /// without reading it again.
    func updateTask(read current: TaskRecord, _ change: Change<TaskRecord>) throws -> TaskRecord
    /// The queued task a claim takes next: the highest priority, then the oldest (of `projectID`
    /// when given). It is this unit's until it ends: on PostgreSQL its row is locked, and rows other
    /// units hold are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite a write unit runs alone. With
    /// `agent`, a task that names another agent is passed over; so are those in `skipping` (a claim
    /// whose first choice a budget cannot cover looks further).
    func nextTaskToClaim(projectID: String?, agent: String?, skipping: [TaskID]) throws -> TaskRecord?

    // MARK: - Budgets

    /// Stores a budget, or replaces the one of its scope, and appends `event`.
    func putBudget(_ budget: Budget, event: Event) throws
    /// Removes the budget of `scope`; the event (made from the removed budget) keeps what it was.
    /// Its windows' spend stays on record. - Throws: `notFound`.
    func deleteBudget(_ scope: BudgetScope, event: @Sendable (Budget) -> Event) throws -> Budget
    /// Adds `committed` and `held` (either may be negative) to one window's spend, making its row
    /// when there is none. With `limit`, nothing is written and nil returned unless committed + held
    /// stays at or below it afterwards: on PostgreSQL the check and the change are one statement, so
    /// concurrent holds never pass the limit together.
    /// - Throws: `storage` when a sum would go below zero or overflow.
    func changeSpend(
        _ scope: BudgetScope, window: String, committed: ExactDecimal, held: ExactDecimal, limit: ExactDecimal?
    ) throws -> BudgetSpend?
    /// Records the highest soft threshold fired in one window.
    func setSoftFired(_ scope: BudgetScope, window: String, percent: Int) throws
    /// Stores a claim's hold, or replaces it (its parts used up).
    func putHold(_ hold: BudgetHold) throws
    /// Removes a claim's hold; false when there was none.
    @discardableResult
    func deleteHold(taskID: TaskID, epoch: Int64) throws -> Bool
    /// Stores the hold for a patch's gate run (a patch has at most one).
    /// - Throws: ``SluiceError`` (`conflict`) when the patch has one already.
    func insertGateHold(_ hold: GateHold) throws
    /// Removes the hold for a patch's gate run; false when there was none.
    @discardableResult
    func deleteGateHold(_ ledgerID: LedgerID) throws -> Bool
    /// Records a currency rate. - Throws: `conflict` when one for the same pair was recorded at the
    /// same instant.
    func putRate(_ rate: CurrencyRate, event: Event) throws
    /// Stores a test's quarantine, replacing the gate's record for the test, with `event` when it
    /// changes the test's standing (a count of passes alone changes none).
    func putTestQuarantine(_ quarantine: TestQuarantine, event: Event?) throws

    // MARK: - Events

    /// Appends an event that changes no record (a warning, a note).
    func append(_ event: Event) throws
}

extension StorageWriter {
    /// The queued task a claim takes next (see ``nextTaskToClaim(projectID:agent:skipping:)``).
    public func nextTaskToClaim(projectID: String?, agent: String?) throws -> TaskRecord? {
        try nextTaskToClaim(projectID: projectID, agent: agent, skipping: [])
    }

    /// Stores a new ledger entry without a diff.
    public func insertPatch(_ entry: PatchLedgerEntry, event: Event) throws {
        try insertPatch(entry, event: event, source: nil)
    }

    /// Stores a cost record, updates the running totals and appends the event.
    public func insertCost(_ cost: CostRecord, event: Event) throws {
        try insertCosts([(cost, event)])
    }
}

// MARK: - One step, one unit

/// Each of these is one unit of work of a single change or read, for callers with nothing to group.
extension Storage {
    public func insertWorker(_ worker: WorkerRecord, event: Event) async throws {
        try await write { try $0.insertWorker(worker, event: event) }
    }

    public func updateWorker(_ id: WorkerID, _ change: @escaping Change<WorkerRecord>) async throws -> WorkerRecord {
        try await write { try $0.updateWorker(id, change) }
    }

    public func renewLease(_ id: WorkerID, at: Timestamp, event: Event) async throws -> WorkerRecord {
        try await write { try $0.renewLease(id, at: at, event: event) }
    }

    public func worker(_ id: WorkerID) async throws -> WorkerRecord? { try await read { try $0.worker(id) } }

    public func workers(state: WorkerState?, type: WorkerType?) async throws -> [WorkerRecord] {
        try await read { try $0.workers(state: state, type: type) }
    }

    public func staleWorkers(olderThan seconds: Double) async throws -> [WorkerRecord] {
        try await read { try $0.staleWorkers(olderThan: seconds) }
    }

    public func insertPatch(_ entry: PatchLedgerEntry, event: Event, source: PatchSource? = nil) async throws {
        try await write { try $0.insertPatch(entry, event: event, source: source) }
    }

    public func patchSource(_ id: LedgerID) async throws -> PatchSource? { try await read { try $0.patchSource(id) } }

    public func patchPriorities(state: PatchState) async throws -> [LedgerID: PatchPriority] {
        try await read { try $0.patchPriorities(state: state) }
    }

    public func recordCommits(
        _ id: LedgerID, base: String?, tested: String?, landed: String?, event: Event
    ) async throws {
        try await write { try $0.recordCommits(id, base: base, tested: tested, landed: landed, event: event) }
    }

    public func updatePatch(
        _ id: LedgerID, _ change: @escaping Change<PatchLedgerEntry>
    ) async throws -> PatchLedgerEntry {
        try await write { try $0.updatePatch(id, change) }
    }

    public func patch(_ id: LedgerID) async throws -> PatchLedgerEntry? { try await read { try $0.patch(id) } }

    public func patch(patchID: PatchID) async throws -> PatchLedgerEntry? {
        try await read { try $0.patch(patchID: patchID) }
    }

    public func patches(_ filter: PatchFilter) async throws -> [PatchLedgerEntry] {
        try await read { try $0.patches(filter) }
    }

    public func insertGate(_ gate: TestGateRecord, event: Event) async throws {
        try await write { try $0.insertGate(gate, event: event) }
    }

    public func updateGate(_ id: GateID, _ change: @escaping Change<TestGateRecord>) async throws -> TestGateRecord {
        try await write { try $0.updateGate(id, change) }
    }

    public func gate(_ id: GateID) async throws -> TestGateRecord? { try await read { try $0.gate(id) } }

    public func gates(_ filter: GateFilter) async throws -> [TestGateRecord] { try await read { try $0.gates(filter) } }

    public func insertCost(_ cost: CostRecord, event: Event) async throws {
        try await write { try $0.insertCost(cost, event: event) }
    }

    public func insertCosts(_ costs: [(CostRecord, Event)]) async throws {
        try await write { try $0.insertCosts(costs) }
    }

    public func deleteCost(_ id: CostID, event: @escaping @Sendable (CostRecord) -> Event) async throws -> CostRecord {
        try await write { try $0.deleteCost(id, event: event) }
    }

    public func cost(_ id: CostID) async throws -> CostRecord? { try await read { try $0.cost(id) } }

    public func costs(_ filter: CostFilter, limit: Int?) async throws -> [CostRecord] {
        try await read { try $0.costs(filter, limit: limit) }
    }

    public func costTotals(_ filter: CostFilter) async throws -> [CostTotal] {
        try await read { try $0.costTotals(filter) }
    }

    public func costBreakdown(_ filter: CostFilter) async throws -> [CostBreakdownRow] {
        try await read { try $0.costBreakdown(filter) }
    }

    public func insertTask(_ task: TaskRecord, event: Event) async throws {
        try await write { try $0.insertTask(task, event: event) }
    }

    public func updateTask(_ id: TaskID, _ change: @escaping Change<TaskRecord>) async throws -> TaskRecord {
        try await write { try $0.updateTask(id, change) }
    }

    public func task(_ id: TaskID) async throws -> TaskRecord? { try await read { try $0.task(id) } }

    public func tasks(_ filter: TaskFilter) async throws -> [TaskRecord] { try await read { try $0.tasks(filter) } }

    public func append(_ event: Event) async throws { try await write { try $0.append(event) } }

    public func events(entityID: String?, after sequence: Int64, limit: Int?) async throws -> [Event] {
        try await readSettled { try $0.events(entityID: entityID, after: sequence, limit: limit) }
    }
}

extension PatchPriority {
    /// A priority as the `priority` column of `patch_sources` holds it.
    /// - Throws: `storage` for anything but one of the four names (a CHECK keeps them out).
    package init(stored text: String?) throws {
        guard let text, let priority = PatchPriority(rawValue: text) else {
            throw SluiceError(code: .storage, message: "the database holds an invalid value in column priority")
        }
        self = priority
    }
}
