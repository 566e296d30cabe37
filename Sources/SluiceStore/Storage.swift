import SluiceCore

/// Which patch ledger entries a list covers.
public struct PatchFilter: Hashable, Sendable {
    public var projectID: String?
    public var state: PatchState?
    public var workstreamID: String?

    public init(projectID: String? = nil, state: PatchState? = nil, workstreamID: String? = nil) {
        self.projectID = projectID
        self.state = state
        self.workstreamID = workstreamID
    }
}

/// Which gates a list covers.
public struct GateFilter: Hashable, Sendable {
    public var projectID: String?
    public var state: GateState?
    public var gateType: GateType?
    public var name: String?
    /// The most gates listed (the newest); nil lists all.
    public var limit: Int?

    public init(
        projectID: String? = nil, state: GateState? = nil, gateType: GateType? = nil, name: String? = nil,
        limit: Int? = nil
    ) {
        self.projectID = projectID
        self.state = state
        self.gateType = gateType
        self.name = name
        self.limit = limit
    }
}

/// A change to one record, computed from its current value inside the storage transaction.
///
/// It returns the record after the change and the event to append; it throws to abort the
/// transaction (nothing is written).
public typealias Change<Record> = @Sendable (Record) throws -> (Record, Event)

/// Where the services keep their records.
///
/// Every method is one transaction. An `update…` method reads the current record, calls the
/// change, writes the result with a compare-and-set on the state it read, and appends the
/// event, all atomically: two writers racing the same transition cannot both succeed.
/// Implementations must pass `StorageConformance` in the test suite.
public protocol Storage: Sendable {
    // MARK: - Workers

    /// Stores a new worker and its creation event.
    /// - Throws: ``SluiceError`` (`conflict`) when the id is taken.
    func insertWorker(_ worker: WorkerRecord, event: Event) throws
    /// Changes a worker atomically. - Throws: `notFound`, whatever `change` throws, `lostRace`.
    func updateWorker(_ id: WorkerID, _ change: Change<WorkerRecord>) throws -> WorkerRecord
    /// Renews a non-terminal worker's lease on the database's clock and records `at` as its last heartbeat.
    /// - Throws: `notFound` for an unknown worker, `invalidTransition` for a stopped or crashed one.
    func renewLease(_ id: WorkerID, at: Timestamp) throws -> WorkerRecord
    /// The worker with this id, if any.
    func worker(_ id: WorkerID) throws -> WorkerRecord?
    /// Workers, newest first, filtered by state and type when given.
    func workers(state: WorkerState?, type: WorkerType?) throws -> [WorkerRecord]
    /// Non-terminal workers whose lease is older than `seconds` by the database's clock.
    func staleWorkers(olderThan seconds: Double) throws -> [WorkerRecord]

    // MARK: - Patches

    /// Stores a new ledger entry, its creation event and, for a submitted patch, its diff
    /// (content-addressed: the same bytes are stored once).
    func insertPatch(_ entry: PatchLedgerEntry, event: Event, source: PatchSource?) throws
    /// The diff and pipeline commits of a submitted patch.
    func patchSource(_ id: LedgerID) throws -> PatchSource?
    /// Records the commits the pipeline applied on, tested and landed; nil leaves a value as it is.
    func recordCommits(_ id: LedgerID, base: String?, tested: String?, landed: String?) throws
    /// Changes a ledger entry atomically.
    func updatePatch(_ id: LedgerID, _ change: Change<PatchLedgerEntry>) throws -> PatchLedgerEntry
    /// The entry with this ledger id, with its state history.
    func patch(_ id: LedgerID) throws -> PatchLedgerEntry?
    /// The entry carrying this patch id, with its state history.
    func patch(patchID: PatchID) throws -> PatchLedgerEntry?
    /// Entries, newest first.
    func patches(_ filter: PatchFilter) throws -> [PatchLedgerEntry]

    // MARK: - Gates

    /// Stores a new gate and its creation event.
    func insertGate(_ gate: TestGateRecord, event: Event) throws
    /// Changes a gate atomically.
    func updateGate(_ id: GateID, _ change: Change<TestGateRecord>) throws -> TestGateRecord
    /// The gate with this id.
    func gate(_ id: GateID) throws -> TestGateRecord?
    /// Gates, newest first.
    func gates(_ filter: GateFilter) throws -> [TestGateRecord]

    // MARK: - Costs

    /// Stores a cost record, updates the running totals and appends the event, in one transaction.
    func insertCost(_ cost: CostRecord, event: Event) throws
    /// Stores many cost records (an import), each with its event, all in one transaction.
    func insertCosts(_ costs: [(CostRecord, Event)]) throws
    /// Deletes a cost record; the event (made from the deleted record) keeps what was deleted.
    func deleteCost(_ id: CostID, event: @Sendable (CostRecord) -> Event) throws -> CostRecord
    /// The cost record with this id.
    func cost(_ id: CostID) throws -> CostRecord?
    /// Cost records, newest first, at most `limit`.
    func costs(_ filter: CostFilter, limit: Int?) throws -> [CostRecord]
    /// Exact totals per currency, from the running sums.
    func costTotals(_ filter: CostFilter) throws -> [CostTotal]
    /// Exact totals per resource type and currency, from the running sums.
    func costBreakdown(_ filter: CostFilter) throws -> [CostBreakdownRow]

    // MARK: - Events

    /// Events in log order, for one entity when `entityID` is given.
    func events(entityID: String?, after sequence: Int64, limit: Int?) throws -> [Event]
}

extension Storage {
    /// Stores a new ledger entry without a diff.
    public func insertPatch(_ entry: PatchLedgerEntry, event: Event) throws {
        try insertPatch(entry, event: event, source: nil)
    }
}
