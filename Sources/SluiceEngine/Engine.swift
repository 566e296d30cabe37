import SluiceCore
import SluiceStore

/// What every service needs: where records live, what time it is, how ids are made, who acts.
public struct EngineContext: Sendable {
    public var storage: any Storage
    public var clock: any WallClock
    public var ids: ULIDGenerator
    /// Recorded as the actor of every event ("cli:alice", "pipeline").
    public var actor: String

    public init(
        storage: any Storage, clock: any WallClock = SystemClock(), ids: ULIDGenerator = .shared,
        actor: String = "sluice"
    ) {
        self.storage = storage
        self.clock = clock
        self.ids = ids
        self.actor = actor
    }

    func event(
        _ kind: EntityKind, _ id: String, from: String?, to: String?, reason: String? = nil, at: Timestamp,
        payload: [String: JSONValue] = [:]
    ) -> Event {
        Event(
            entityKind: kind, entityID: id, fromState: from, toState: to, reason: reason, at: at, actor: actor,
            payload: payload)
    }
}

/// The four services over one storage.
public struct Engine: Sendable {
    public let context: EngineContext
    public let workers: WorkerService
    public let patches: PatchService
    public let gates: GateService
    public let costs: CostService
    public let tasks: TaskService
    public let budgets: BudgetService

    public init(_ context: EngineContext) {
        self.context = context
        self.tasks = TaskService(context)
        self.workers = WorkerService(context)
        self.patches = PatchService(context)
        self.gates = GateService(context)
        self.costs = CostService(context)
        self.budgets = BudgetService(context)
    }

    /// The event log, for one entity when `entityID` is given.
    public func events(entityID: String? = nil, after sequence: Int64 = 0, limit: Int? = nil) async throws -> [Event] {
        try SluiceError.checkLimit(limit)
        return try await context.storage.events(entityID: entityID, after: sequence, limit: limit)
    }
}
