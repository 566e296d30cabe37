import SluiceCore
import SluicePostgres
import SluiceStore
import Testing

/// The backends the storage tests run against, each making a fresh, empty store per test.
public enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// SQLite in memory.
    case sqliteMemory = "sqlite-memory"
    /// SQLite in a real file, with the default durable settings.
    case sqliteFile = "sqlite-file"
    /// A fresh database on the test process's throwaway PostgreSQL server (``PostgresServer``).
    case postgres

    public var description: String { rawValue }

    /// Makes a fresh, empty store whose database clock follows `databaseClock`.
    ///
    /// PostgreSQL keeps its own clock; the store adds to it how far `databaseClock` has moved since
    /// this call, so a test moves both backends' clocks the same way.
    ///
    /// Where PostgreSQL is not available, the current test case is cancelled (reported as skipped,
    /// with the reason), or fails when `SLUICE_REQUIRE_POSTGRES=1`.
    public func make(databaseClock: FakeDatabaseClock = FakeDatabaseClock()) async throws -> any Storage {
        switch self {
        case .sqliteMemory:
            return try SQLiteStorage(inMemory: SQLiteStorage.Options(databaseClock: databaseClock.read))
        case .sqliteFile:
            let directory = TemporaryDirectory()
            let storage = try SQLiteStorage(
                path: directory.file("sluice.db"), options: SQLiteStorage.Options(databaseClock: databaseClock.read))
            return StorageInDirectory(storage, directory: directory)
        case .postgres:
            return try await PostgresServer.makeStorage(databaseClock: databaseClock)
        }
    }
}

extension PostgresServer {
    /// A ``PostgresStorage`` on a fresh database of the shared server.
    ///
    /// Its limit on idle transactions is 600 s, not the product's 10 s: tests hold transactions
    /// open while other units run, and a loaded machine may take that long to schedule them. A
    /// test of the limit itself sets its own.
    ///
    /// - Throws: ``Unavailable`` when there is no server and `SLUICE_REQUIRE_POSTGRES=1`; otherwise
    ///   the current test (case) is cancelled with the reason.
    public static func makeStorage(
        databaseClock: FakeDatabaseClock = FakeDatabaseClock(), poolSize: Int = 16,
        idleInTransactionTimeout: Double = 600
    ) async throws -> PostgresStorage {
        try skipUnlessAvailable()
        let url = try shared().makeDatabase()
        let read = databaseClock.read
        let start = read()
        var options = PostgresStorage.Options(poolSize: poolSize)
        options.databaseClockOffset = { read() - start }
        options.idleInTransactionTimeout = idleInTransactionTimeout
        return try await PostgresStorage(url: url, options: options)
    }

    /// Cancels the current test (reported as skipped, with the reason) when there is no server,
    /// unless `SLUICE_REQUIRE_POSTGRES=1`, when it throws ``Unavailable`` and the test fails.
    public static func skipUnlessAvailable() throws {
        guard let reason = availability.reason else { return }
        if isRequired { throw Unavailable(reason: reason + " (SLUICE_REQUIRE_POSTGRES=1)") }
        try Test.cancel(Comment(rawValue: skipComment))
    }
}

extension Trait where Self == ConditionTrait {
    /// Skips the test, with the reason, where PostgreSQL's programs are missing — unless
    /// `SLUICE_REQUIRE_POSTGRES=1`, when the test runs and fails for want of a server.
    public static var requiresPostgres: Self {
        .enabled(
            if: PostgresServer.availability.reason == nil || PostgresServer.isRequired,
            Comment(rawValue: PostgresServer.skipComment))
    }
}

/// A store that keeps its temporary directory for as long as it lives.
struct StorageInDirectory: Storage {
    let base: any Storage
    let directory: TemporaryDirectory

    init(_ base: any Storage, directory: TemporaryDirectory) {
        self.base = base
        self.directory = directory
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any StorageWriter) throws -> T) async throws -> T {
        try await base.write(body)
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T {
        try await base.read(body)
    }
}
