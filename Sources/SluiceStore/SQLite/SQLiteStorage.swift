import CSQLiteTuning
import Foundation
import GRDB
import GRDBSQLite
import SluiceCore
import Synchronization

/// ``Storage`` in one SQLite file (or in memory), through GRDB.
///
/// A file opens as a GRDB `DatabasePool`: WAL mode, `synchronous=FULL` by default, a busy
/// timeout and foreign keys on; reads run concurrently on read-only connections, each on one
/// snapshot. Every write is an IMMEDIATE transaction on the single writer connection, so a
/// read-modify-write holds the write lock from its first read: concurrent writers, in this process
/// or others, are serialised, and events become visible in sequence order. A unit of work runs in
/// place when nothing else is writing, and on GRDB's writer queue otherwise: an awaiting caller's
/// thread never waits for a lock (see ``write(_:)``).
///
/// The storage leaves process-wide SQLite settings alone; a host that wants them (the `sluice`
/// tool turns off SQLite's memory statistics) calls ``tuneProcess()`` before opening a database.
public final class SQLiteStorage: Storage {
    /// How hard SQLite works to make a commit durable.
    public enum Synchronous: String, Sendable {
        /// Survives power loss (the default).
        case full = "FULL"
        /// Survives a crash of the process, may lose the last commits on power loss.
        case normal = "NORMAL"
    }

    /// Connection settings.
    public struct Options: Sendable {
        public var synchronous: Synchronous
        /// How long a writer waits for another writer's lock before failing.
        public var busyTimeout: TimeInterval
        /// The database's clock, in Unix seconds: the only clock worker leases are judged by.
        /// Tests replace it; the product uses the machine's clock as SQLite itself does.
        public var databaseClock: @Sendable () -> Double
        /// The most read-only connections a file database opens (reads beyond them wait).
        public var readers: Int = 4

        public init(
            synchronous: Synchronous = .full, busyTimeout: TimeInterval = 30,
            databaseClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
        ) {
            self.synchronous = synchronous
            self.busyTimeout = busyTimeout
            self.databaseClock = databaseClock
        }
    }

    /// The pool for a file, a queue in memory (where a pool cannot share one database).
    let writer: any DatabaseWriter
    /// The pool again, for concurrent snapshot reads; nil in memory.
    let pool: DatabasePool?

    /// The file the database lives in; nil in memory.
    public let path: String?

    /// How long a unit waits for another connection's write lock.
    private let busyTimeout: TimeInterval
    /// Units of work of this storage begun and not yet returned.
    private let unitsInFlight = Atomic<Int>(0)
    /// Units waiting for the next group commit.
    private let waiting = Mutex<[any GroupedWork]>([])
    /// The most units one group commit has held (for tests that a group forms).
    private let largestGroup = Atomic<Int>(0)
    package var largestGroupCommit: Int { largestGroup.load(ordering: .relaxed) }
    /// Units of work begun and not yet returned (for tests that need several waiting at once).
    package var unitsInFlightCount: Int { unitsInFlight.load(ordering: .relaxed) }

    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    ///
    /// - Throws: ``SluiceError`` (`storage`) when the file cannot be opened or migrated, or was
    ///   migrated by a newer version of Sluice (it is then left as it is).
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.busyTimeout = options.busyTimeout
        do {
            let pool = try DatabasePool(path: path, configuration: SQLiteStorage.configuration(options, wal: false))
            // The pool turns WAL on and lowers `synchronous` to NORMAL on its writer; set it back.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(options.synchronous.rawValue)")
            }
            self.pool = pool
            self.writer = pool
            try SQLiteStorage.refuseNewerSchema(pool, path: path)
            try SQLiteStorage.migrator.migrate(pool)
        } catch {
            throw SQLiteStorage.translate(error, while: "opening the database at \(path)")
        }
    }

    /// Opens a private in-memory database with the current schema.
    public init(inMemory options: Options = Options()) throws {
        self.path = nil
        self.pool = nil
        self.busyTimeout = options.busyTimeout
        do {
            let queue = try DatabaseQueue(configuration: SQLiteStorage.configuration(options, wal: false))
            self.writer = queue
            try SQLiteStorage.migrator.migrate(queue)
        } catch {
            throw SQLiteStorage.translate(error, while: "opening an in-memory database")
        }
    }

    /// Turns off SQLite's memory statistics for the whole process (they take a global mutex on every
    /// allocation). Process-wide: call it from the host, before the first connection opens.
    public static func tuneProcess() {
        _ = tuning
    }

    private static let tuning: Void = {
        _ = sluice_sqlite_disable_memstatus()
    }()

    // MARK: - Units of work

    /// A unit of work runs in place, on the awaiting caller's thread, when it is the only unit of this
    /// storage in flight and SQLite's write lock is free at once; otherwise it joins the next group
    /// commit on GRDB's writer queue. So a caller's thread never waits for a lock (another unit, or
    /// another process's busy timeout), and a lone writer does not pay two thread hops per unit (about
    /// 150 µs on a 2-core machine, most of a transition in memory).
    public func write<T: Sendable>(_ body: @escaping @Sendable (any StorageWriter) throws -> T) async throws -> T {
        let alone = unitsInFlight.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged
        if !alone { unitsInFlight.add(1, ordering: .acquiringAndReleasing) }
        defer { unitsInFlight.subtract(1, ordering: .acquiringAndReleasing) }
        do {
            if alone, let done = try writeInPlace(body) { return done.value }
            return try await writeInGroup(body)
        } catch {
            throw SQLiteStorage.translate(error, while: "writing")
        }
    }

    /// Group commit: units that wait for the writer together run in one transaction, each in a
    /// savepoint of its own, so that each still commits whole or leaves nothing, and one fsync serves
    /// them all. A unit's result is handed back only once the transaction has committed; a unit that
    /// throws is rolled back to its savepoint alone, and the others go on.
    private func writeInGroup<T: Sendable>(_ body: @escaping @Sendable (any StorageWriter) throws -> T) async throws
        -> T
    {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            waiting.withLock { $0.append(GroupedUnit(body: body, continuation: continuation)) }
            // One drain per unit: the first to run takes every unit waiting; the others find none.
            writer.asyncWriteWithoutTransaction { [self] db in self.commitWaiting(db) }
        }
    }

    /// Runs every waiting unit in one transaction (at most ``groupLimit``; the rest go to the next).
    private func commitWaiting(_ db: Database) {
        let units = waiting.withLock { waiting -> [any GroupedWork] in
            let taken = Array(waiting.prefix(Self.groupLimit))
            waiting.removeFirst(taken.count)
            return taken
        }
        if units.isEmpty { return }
        if units.count > largestGroup.load(ordering: .relaxed) { largestGroup.store(units.count, ordering: .relaxed) }
        do {
            try Self.execute(db, "BEGIN IMMEDIATE")
        } catch {
            for unit in units { unit.finish(committed: false, error: error) }
            return
        }
        var outcomes: [(any Error)?] = []
        for unit in units {
            do {
                try Self.execute(db, "SAVEPOINT unit")
            } catch {
                outcomes.append(error)
                continue
            }
            let failure = unit.run(db)
            if failure != nil, db.isInsideTransaction {
                // Undone alone; the transaction goes on with the others.
                try? Self.execute(db, "ROLLBACK TO unit")
            }
            if db.isInsideTransaction { try? Self.execute(db, "RELEASE unit") }
            outcomes.append(failure)
            if !db.isInsideTransaction { break }  // SQLite rolled the whole transaction back.
        }
        var commitFailure: (any Error)?
        if db.isInsideTransaction {
            do {
                try Self.execute(db, "COMMIT")
            } catch {
                commitFailure = error
                if db.isInsideTransaction { try? Self.execute(db, "ROLLBACK") }
            }
        } else {
            commitFailure = SluiceError(code: .storage, message: "SQLite rolled back a group of units of work")
        }
        for (index, unit) in units.enumerated() {
            let own = index < outcomes.count ? outcomes[index] : nil
            if let own {
                unit.finish(committed: false, error: own)
            } else if let commitFailure {
                unit.finish(committed: false, error: commitFailure)
            } else {
                unit.finish(committed: true, error: nil)
            }
        }
    }

    /// Units in one group commit, at most: a burst larger than this commits in several.
    static let groupLimit = 64

    /// One statement without results, through the statement cache.
    static func execute(_ db: Database, _ sql: String) throws {
        var statement = try RawStatement(db, sql)
        try statement.execute()
    }

    /// A unit in place: BEGIN IMMEDIATE without a busy timeout. Nil, with nothing run, when another
    /// connection (another process) holds the write lock.
    private func writeInPlace<T>(_ body: (any StorageWriter) throws -> T) throws -> Done<T>? {
        let milliseconds = Int32(clamping: Int((busyTimeout * 1000).rounded()))
        return try writer.writeWithoutTransaction { db -> Done<T>? in
            sqlite3_busy_timeout(db.sqliteConnection, 0)
            defer { sqlite3_busy_timeout(db.sqliteConnection, milliseconds) }
            var begin = try RawStatement(db, "BEGIN IMMEDIATE")
            do {
                try begin.execute()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                return nil
            }
            sqlite3_busy_timeout(db.sqliteConnection, milliseconds)
            return Done(value: try SQLiteStorage.finishTransaction(db) { try body(SQLiteTransaction(db: db)) })
        }
    }

    /// A unit's result (a unit may return an optional of its own).
    private struct Done<T> {
        let value: T
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T {
        do {
            if let pool {
                return try await pool.read { db in try body(SQLiteTransaction(db: db)) }
            }
            return try await writer.writeWithoutTransaction { db in
                try SQLiteStorage.transaction(db, "BEGIN DEFERRED") { try body(SQLiteTransaction(db: db)) }
            }
        } catch {
            throw SQLiteStorage.translate(error, while: "reading")
        }
    }

    /// The same units, run on the caller's thread: for the benchmarks that measure the statements
    /// without the hop to GRDB's queue, and for tests of the schema.
    package func writeNow<T>(_ body: (SQLiteTransaction) throws -> T) throws -> T {
        do {
            return try writer.writeWithoutTransaction { db in
                try SQLiteStorage.transaction(db, "BEGIN IMMEDIATE") { try body(SQLiteTransaction(db: db)) }
            }
        } catch {
            throw SQLiteStorage.translate(error, while: "writing")
        }
    }

    /// The names of the migrations applied to this database, in order.
    public func appliedMigrations() throws -> [String] {
        try writeNow { tx in try SQLiteStorage.migrator.appliedMigrations(tx.db) }
    }

    /// Reads a PRAGMA's value on the writer connection (for checks of the connection settings).
    package func pragma(_ name: String) throws -> String? {
        try writer.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    /// Work counters summed over the connection's prepared statements, for checks that a
    /// query plan or the statement cache behaves (counts, not timings, so they hold on any machine).
    package struct StatementCounters: Equatable, Sendable {
        /// Times a statement already prepared had to be compiled again (each one a full parse).
        package var recompilations: Int
        /// Rows stepped through in full table scans.
        package var fullScanSteps: Int
    }

    /// The current ``StatementCounters``, summed over the writer and, for a file, the readers
    /// (exact with `readers: 1`, where every read goes through the same connection).
    package func statementCounters() throws -> StatementCounters {
        var counters = writer.writeWithoutTransaction(Self.counters)
        if let pool {
            let reader = try pool.read(Self.counters)
            counters.recompilations += reader.recompilations
            counters.fullScanSteps += reader.fullScanSteps
        }
        return counters
    }

    private static func counters(_ db: Database) -> StatementCounters {
        var counters = StatementCounters(recompilations: 0, fullScanSteps: 0)
        var statement = sqlite3_next_stmt(db.sqliteConnection, nil)
        while let current = statement {
            counters.recompilations += Int(sqlite3_stmt_status(current, SQLITE_STMTSTATUS_REPREPARE, 0))
            counters.fullScanSteps += Int(sqlite3_stmt_status(current, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0))
            statement = sqlite3_next_stmt(db.sqliteConnection, current)
        }
        return counters
    }

    /// Opens a bare connection with exactly the settings the storage uses, without the schema;
    /// the benchmark measures the physical commit rate through it.
    package static func openConnection(path: String, options: Options = Options()) throws -> DatabaseQueue {
        try DatabaseQueue(path: path, configuration: configuration(options, wal: true))
    }

    private static func configuration(_ options: Options, wal: Bool) -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(options.busyTimeout)
        config.maximumReaderCount = max(1, options.readers)
        let clock = options.databaseClock
        let synchronous = options.synchronous.rawValue
        config.prepareDatabase { db in
            // Set here rather than through GRDB's `.wal` option, which also lowers synchronous to NORMAL.
            if wal { try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            db.add(function: DatabaseFunction("sluice_db_now", argumentCount: 0, pure: false) { _ in clock() })
        }
        return config
    }

    // MARK: - Migrations

    /// The numbered migrations under `Migrations/`, applied in order and recorded in `grdb_migrations`.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        for (name, sql) in migrations {
            migrator.registerMigration(name) { db in try db.execute(sql: sql) }
        }
        return migrator
    }()

    /// A database that a newer Sluice has migrated holds tables or rules this version does not
    /// know; writing to it could break them, so it is refused before anything is written.
    static func refuseNewerSchema(_ writer: any DatabaseWriter, path: String) throws {
        let unknown = try writer.writeWithoutTransaction { db in
            try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
        }
        guard let newest = unknown.max() else { return }
        throw SluiceError.newerSchema(at: path, schema: newest)
    }

    /// Every migration, in order: (name, SQL). They are compiled in (`Migrations/Migration*.swift`), so
    /// an installed binary needs no resource bundle beside it. A new migration gets the next number.
    package static let migrations: [(name: String, sql: String)] = [
        migration0001, migration0002, migration0003, migration0004, migration0005, migration0006,
        migration0007, migration0008, migration0009, migration0010, migration0011,
    ]

    // MARK: - Transactions

    /// BEGIN and COMMIT go through cached statements: GRDB's `inTransaction` parses them anew on
    /// every call, which was a measurable share of a transition's cost. In memory, reads take the
    /// same path with BEGIN DEFERRED rather than GRDB's `read`, which sets `PRAGMA query_only` on and
    /// off around each read and so expires every prepared statement of the one connection.
    static func transaction<T>(_ db: Database, _ beginSQL: String, _ body: () throws -> T) throws -> T {
        var begin = try RawStatement(db, beginSQL)
        try begin.execute()
        return try finishTransaction(db, body)
    }

    /// Runs `body` in the transaction just begun, then commits; a throw rolls back and is rethrown.
    private static func finishTransaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        do {
            let result = try body()
            var commit = try RawStatement(db, "COMMIT")
            try commit.execute()
            return result
        } catch {
            if !db.isInsideTransaction { throw error }
            var rollback = try RawStatement(db, "ROLLBACK")
            try rollback.execute()
            throw error
        }
    }

    // MARK: - Errors

    static func translate(_ error: any Error, while doing: String) -> SluiceError {
        if let error = error as? SluiceError { return error }
        if let error = error as? DatabaseError {
            if error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
                || error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
            {
                return SluiceError(
                    code: .conflict, message: "a record with that id already exists",
                    detail: error.message)
            }
            return SluiceError(
                code: .storage, message: "database error while \(doing): \(error.message ?? "\(error.resultCode)")",
                detail: error.sql)
        }
        return SluiceError(code: .storage, message: "storage failed while \(doing): \(error)")
    }
}

// GRDB's pool and queue serialise access to their connections, and the class holds no other mutable state.
extension SQLiteStorage: @unchecked Sendable {}

/// One unit of work on one SQLite connection, inside the transaction ``SQLiteStorage`` opened.
package struct SQLiteTransaction: StorageWriter {
    let db: Database

    /// Reads one row, applies `change`, writes with a compare-and-set on the state read, appends the event.
    func transition<Record>(
        id: String, noun: String, load: (Database) throws -> Record?, state: (Record) -> String,
        write: (Database, Record, _ expectedState: String) throws -> Void, change: Change<Record>
    ) throws -> Record {
        guard let current = try load(db) else { throw SluiceError.notFound(noun, id) }
        let (next, event) = try change(current)
        try write(db, next, state(current))
        guard db.changesCount == 1 else {
            // Only reachable if another writer changed the row inside our transaction's window,
            // which IMMEDIATE transactions prevent; kept as the compare-and-set's guard.
            throw SluiceError(
                code: .lostRace, message: "cannot change \(noun) \(id): another writer changed it first",
                currentState: state(current))
        }
        try Self.append(event, db)
        return next
    }

    static let eventInsert = """
        INSERT INTO events (entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    package func append(_ event: Event) throws {
        try Self.append(event, db)
    }

    static func append(_ event: Event, _ db: Database) throws {
        var insert = try RawStatement(db, eventInsert)
        insert.bindEventColumns(event)
        try insert.execute()
    }
}

/// A unit of work waiting for a group commit, whatever its result's type.
private protocol GroupedWork: Sendable {
    /// Runs the unit in the open savepoint; the error it threw, if any.
    func run(_ db: Database) -> (any Error)?
    /// Hands the unit's result (once committed) or an error to its caller.
    func finish(committed: Bool, error: (any Error)?)
}

private final class GroupedUnit<T: Sendable>: GroupedWork, @unchecked Sendable {
    let body: @Sendable (any StorageWriter) throws -> T
    let continuation: CheckedContinuation<T, any Error>
    /// Set on the writer queue by `run`, read there by `finish`: never touched concurrently.
    private var result: T?

    init(body: @escaping @Sendable (any StorageWriter) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func run(_ db: Database) -> (any Error)? {
        do {
            result = try body(SQLiteTransaction(db: db))
            return nil
        } catch {
            return error
        }
    }

    func finish(committed: Bool, error: (any Error)?) {
        if committed, let result {
            continuation.resume(returning: result)
        } else {
            continuation.resume(throwing: error ?? SluiceError(code: .storage, message: "the unit of work was not run"))
        }
    }
}
