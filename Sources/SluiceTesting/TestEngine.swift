import SluiceCore
import SluiceEngine
import SluiceStore

/// An engine over a fresh in-memory SQLite storage, with fake clocks, for service tests. The
/// storage contract itself is tested on every backend (``StoreKind``).
public struct TestEngine: Sendable {
    public let engine: Engine
    public let clock: FakeClock
    public let databaseClock: FakeDatabaseClock

    public init() throws {
        let clock = FakeClock()
        let databaseClock = FakeDatabaseClock()
        let storage = try SQLiteStorage(inMemory: SQLiteStorage.Options(databaseClock: databaseClock.read))
        self.engine = Engine(
            EngineContext(storage: storage, clock: clock, ids: ULIDGenerator(clock: clock), actor: "test"))
        self.clock = clock
        self.databaseClock = databaseClock
    }

    public var workers: WorkerService { engine.workers }
    public var patches: PatchService { engine.patches }
    public var gates: GateService { engine.gates }
    public var costs: CostService { engine.costs }
    public var storage: any Storage { engine.context.storage }
}
