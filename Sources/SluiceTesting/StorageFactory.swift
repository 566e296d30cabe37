import SluiceCore
import SluiceEngine
import SluiceStore

/// Makes a fresh, empty storage per test; the storage suite runs once per backend listed in ``all``.
public struct StorageFactory: Sendable, CustomStringConvertible {
    /// The backend's name, shown in test names.
    public let name: String
    /// Makes a fresh storage whose database clock is `databaseClock`. The directory, when the
    /// backend needs one, lives as long as the returned value.
    public let make: @Sendable (_ databaseClock: FakeDatabaseClock) throws -> (any Storage, TemporaryDirectory?)

    public var description: String { name }

    /// SQLite in a real file, with the default durable settings.
    public static let sqliteFile = StorageFactory(name: "sqlite-file") { clock in
        let directory = TemporaryDirectory()
        let storage = try SQLiteStorage(
            path: directory.file("sluice.db"), options: SQLiteStorage.Options(databaseClock: clock.read))
        return (storage, directory)
    }

    /// SQLite in memory.
    public static let sqliteMemory = StorageFactory(name: "sqlite-memory") { clock in
        (try SQLiteStorage(inMemory: SQLiteStorage.Options(databaseClock: clock.read)), nil)
    }

    /// Every backend the storage suite runs against.
    public static let all: [StorageFactory] = [.sqliteFile, .sqliteMemory]
}

/// An engine over a fresh storage, with a fake clock, for service tests.
public struct TestEngine: Sendable {
    public let engine: Engine
    public let clock: FakeClock
    public let databaseClock: FakeDatabaseClock
    public let directory: TemporaryDirectory?

    /// Makes the engine over a fresh storage from `factory`.
    public init(_ factory: StorageFactory = .sqliteMemory) throws {
        let clock = FakeClock()
        let databaseClock = FakeDatabaseClock()
        let (storage, directory) = try factory.make(databaseClock)
        self.engine = Engine(
            EngineContext(storage: storage, clock: clock, ids: ULIDGenerator(clock: clock), actor: "test"))
        self.clock = clock
        self.databaseClock = databaseClock
        self.directory = directory
    }

    public var workers: WorkerService { engine.workers }
    public var patches: PatchService { engine.patches }
    public var gates: GateService { engine.gates }
    public var costs: CostService { engine.costs }
    public var storage: any Storage { engine.context.storage }
}
