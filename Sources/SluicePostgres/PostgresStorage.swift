import Foundation
import Logging
import NIOCore
import PostgresNIO
import SluiceCore
import SluiceStore

/// ``Storage`` in a PostgreSQL database, shared by workers on many machines, through postgres-nio.
///
/// The same records and rules as ``SQLiteStorage``, enforced by the database: CHECK constraints
/// mirroring the enums, append-only events (triggers raise on UPDATE, DELETE and TRUNCATE), exact
/// money as `bigint` billionths with running sums kept by a trigger in the same transaction, and
/// worker leases on the database's clock.
///
/// A write is one READ COMMITTED transaction: a transition reads its row, checks the change, and
/// writes it with a compare-and-set on the state read (`UPDATE … WHERE id = $1 AND state = $2`), so
/// when two writers race, the one whose UPDATE finds the state changed gets `lostRace`, naming the
/// state it found. A read is one REPEATABLE READ, READ ONLY transaction: one snapshot.
///
/// Units of work run on the threads of a ``BlockingConnectionPool``, each with its own connection
/// from BEGIN to COMMIT; the awaiting caller's task is suspended, never blocked.
public final class PostgresStorage: Storage {
    /// Connection settings.
    public struct Options: Sendable {
        /// The most units of work (and connections) at once; more wait for a free one.
        public var poolSize: Int
        /// How long opening a connection may take (30 s by default: a busy server, or a busy client host).
        public var connectTimeout: TimeAmount
        /// Seconds a unit's session may sit idle inside its transaction before the server ends it
        /// (10 s by default; units never idle unless their process is stopped or stuck).
        public var idleInTransactionTimeout: Double = 10
        /// Seconds added to the database's clock when leases are renewed and judged: tests move it
        /// forward as they would a fake clock. The product leaves it at 0.
        package var databaseClockOffset: @Sendable () -> Double
        /// Applies only the first this many migrations: tests build the ledger an earlier release left.
        package var migrationsApplied: Int?

        /// - Parameter poolSize: 16 by default, enough for 16 concurrent writers.
        public init(poolSize: Int = 16, connectTimeout: TimeAmount = .seconds(30)) {
            self.poolSize = poolSize
            self.connectTimeout = connectTimeout
            self.databaseClockOffset = { 0 }
        }
    }

    let pool: BlockingConnectionPool
    /// For connections outside the pool: the session a held lock lives in.
    let configuration: PostgresConnection.Configuration
    let logger: Logger
    let clockOffset: @Sendable () -> Double

    /// The database's address, without its password.
    public let location: String

    /// The migrations this storage applied when it opened (all of them for a new ledger).
    public let migratedOnOpen: [String]

    /// Connects to the database at `url` and brings its schema up to date.
    ///
    /// - Parameter url: `postgres://user[:password]@host[:port]/database`, optionally with
    ///   `?sslmode=disable|prefer|require` (default `disable`) or `?host=/socket/directory` for a
    ///   Unix-domain socket.
    /// - Throws: ``SluiceError`` (`invalidInput`) for a malformed URL; (`storage`) when the server
    ///   cannot be reached or the schema cannot be migrated, or was migrated by a newer Sluice.
    public init(url: String, options: Options = Options()) async throws {
        let address = try PostgresAddress(parsing: url)
        var configuration = try address.configuration()
        configuration.options.connectTimeout = options.connectTimeout
        // A unit's transaction is one synchronous body: it never idles inside a transaction unless its
        // process is stopped or stuck. Then the server ends it, letting go of its locks (a stopped
        // writer holding the event log's lock would hold back every follower, and the writers queued
        // behind a follower).
        configuration.options.additionalStartupParameters.append(
            ("idle_in_transaction_session_timeout", String(Int(options.idleInTransactionTimeout * 1000))))
        self.location = address.redacted
        self.clockOffset = options.databaseClockOffset
        var quiet = Logger(label: "sluice.postgres")
        // The storage reports its failures as errors; postgres-nio's own logging stays silent.
        quiet.logLevel = .critical
        let logger = quiet
        self.configuration = configuration
        self.logger = logger
        self.pool = BlockingConnectionPool(configuration: configuration, size: options.poolSize, logger: logger)
        let location = self.location
        do {
            self.migratedOnOpen = try await pool.withConnection { connection in
                try PostgresMigrator.migrate(
                    Connection(connection, logger: logger), location: location, through: options.migrationsApplied)
            }
        } catch {
            await pool.shutdown()
            throw PostgresStorage.translate(error, while: "opening the database at \(location)")
        }
    }

    /// Closes the connections. Units of work started after this fail.
    public func close() async {
        await pool.shutdown()
    }

    // MARK: - Units of work

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StorageWriter) throws -> T) async throws -> T {
        let offset = clockOffset
        do {
            return try await pool.withConnection { connection in
                let link = Connection(connection)
                let tx = PostgresTransaction(link, writable: true, clockOffset: offset())
                // The events go last, queued with the COMMIT: see migration 0003 on the event log's lock.
                return try link.transaction(
                    "BEGIN ISOLATION LEVEL READ COMMITTED", lastStatements: tx.sendPendingEvents
                ) { try body(tx) }
            }
        } catch {
            throw PostgresStorage.translate(error, while: "writing")
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StorageReader) throws -> T) async throws -> T {
        let offset = clockOffset
        do {
            return try await pool.withConnection { connection in
                let link = Connection(connection)
                return try link.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") {
                    try body(PostgresTransaction(link, writable: false, clockOffset: offset()))
                }
            }
        } catch {
            throw PostgresStorage.translate(error, while: "reading")
        }
    }

    /// Asks the database for the log's settled bound first (`sluice_settled_bound()`, migration
    /// 0004: it waits, inside that one statement, for the writers in flight), then opens the unit's
    /// snapshot; the unit reads the log up to the bound only. The log's lock is never held across a
    /// round trip to this client.
    public func readSettled<T: Sendable>(
        _ body: @escaping @Sendable (any StorageReader) throws -> T
    ) async throws -> T {
        let offset = clockOffset
        do {
            return try await pool.withConnection { connection in
                let link = Connection(connection)
                let bound = try PostgresStorage.settledBound(link)
                return try link.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") {
                    try body(PostgresTransaction(link, writable: false, clockOffset: offset(), eventBound: bound))
                }
            }
        } catch {
            throw PostgresStorage.translate(error, while: "reading the event log")
        }
    }

    /// The log after `sequence` up to its settled bound, in two statements outside any transaction:
    /// what a follower polls (`sluice events --follow`).
    public func events(entityID: String?, after sequence: Int64, limit: Int?) async throws -> [Event] {
        do {
            return try await pool.withConnection { connection in
                let link = Connection(connection)
                let bound = try PostgresStorage.settledBound(link)
                let (sql, binds) = PostgresTransaction.eventsStatement(
                    entityID: entityID, after: sequence, upTo: bound, limit: limit)
                return try link.query(sql, binds.bindings).map { row in
                    var cells = Cells(row)
                    return try PostgresTransaction.decodeEvent(&cells)
                }
            }
        } catch {
            throw PostgresStorage.translate(error, while: "reading the event log")
        }
    }

    /// `sluice_settled_bound()`, on its own: its transaction, and the lock it takes, end with it.
    private static func settledBound(_ link: Connection) throws -> Int64 {
        for row in try link.query("SELECT sluice_settled_bound()") {
            var cells = Cells(row)
            return try cells.int64()
        }
        throw SluiceError(code: .storage, message: "the database returned no settled bound of the event log")
    }

    /// Runs one unit on a bare connection, inside a transaction: for tests of the schema itself.
    package func withRawTransaction<T: Sendable>(
        _ body: @escaping @Sendable (Connection) throws -> T
    ) async throws -> T {
        do {
            return try await pool.withConnection { connection in
                let link = Connection(connection)
                return try link.transaction("BEGIN") { try body(link) }
            }
        } catch {
            throw PostgresStorage.translate(error, while: "running a statement")
        }
    }

    /// The names of the migrations applied to this database, in order.
    public func appliedMigrations() async throws -> [String] {
        try await withRawTransaction { try PostgresMigrator.applied($0) }
    }

    // MARK: - Errors

    /// A ``SluiceError`` for any error of a unit: the unit's own errors pass through; a unique
    /// violation is a `conflict`; any other database failure is `storage`, in one sentence.
    /// What a connection-level failure means, in words.
    static func describe(_ code: PSQLError.Code) -> String {
        switch code {
        case .connectionError: "the server could not be reached (is it running, and is the host and port right?)"
        case .serverClosedConnection: "the server closed the connection"
        case .sslUnsupported: "the server does not accept TLS (sslmode=require): use sslmode=disable or prefer"
        case .authMechanismRequiresPassword: "the server asks for a password, and the URL has none"
        case .unsupportedAuthMechanism: "the server asks for an authentication method Sluice does not support"
        case .tooManyParameters: "a statement had too many parameters"
        case .clientClosedConnection: "the connection was closed"
        default: "\(code)"
        }
    }

    static func translate(_ error: any Error, while doing: String) -> SluiceError {
        if let error = error as? SluiceError { return error }
        if let error = error as? PSQLError {
            if let server = error.serverInfo {
                let message = server[.message] ?? "unknown error"
                let state = server[.sqlState] ?? ""
                if state == "23505" {
                    return SluiceError(
                        code: .conflict, message: "a record with that id already exists",
                        detail: [message, server[.detail]].compactMap { $0 }.joined(separator: "; "))
                }
                if state == "22003" {
                    return SluiceError.invalidInput(
                        "cannot store the value: it is past what the ledger holds exactly (\(message)); "
                            + "nothing was stored")
                }
                return SluiceError(
                    code: .storage, message: "database error while \(doing): \(message)",
                    detail: "SQLSTATE \(state)" + (error.query.map { "; \($0.sql)" } ?? ""))
            }
            return SluiceError(
                code: .storage,
                message: "the database connection failed while \(doing): \(PostgresStorage.describe(error.code))",
                detail: String(reflecting: error))
        }
        if error is CancellationError {
            return SluiceError(code: .storage, message: "the storage was cancelled or closed while \(doing)")
        }
        return SluiceError(code: .storage, message: "storage failed while \(doing): \(error)")
    }
}
