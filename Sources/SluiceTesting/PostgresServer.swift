import Foundation
import SluicePostgres

/// The test process's throwaway PostgreSQL server: a ``ThrowawayPostgresServer`` (initdb into a
/// temporary directory, `pg_ctl start` on a free loopback port, trust authentication, no system
/// service) with the settings of a test server (`fsync=off`). One server per test process, started
/// on first use; each test gets a fresh database of its own from ``makeDatabase()``. The server is
/// stopped and its directory deleted when the process exits, and by a watchdog if the process dies
/// without exiting.
///
/// When PostgreSQL's programs are missing, ``availability`` says why; tests that need the server
/// are then skipped with that reason (see ``requiresPostgres``), unless `SLUICE_REQUIRE_POSTGRES=1`
/// is set (as CI does), which turns the missing server into a failure.
public final class PostgresServer: Sendable {
    /// Whether the tests can have a server, and if not, why.
    public enum Availability: Sendable, Equatable {
        case available(binaries: String)
        case unavailable(reason: String)

        /// The reason the server cannot run, nil when it can.
        public var reason: String? {
            if case .unavailable(let reason) = self { return reason }
            return nil
        }
    }

    /// Where the server's programs are, or why there are none: decided once, without starting anything.
    public static let availability: Availability = {
        switch ThrowawayPostgresServer.availability {
        case .available(let binaries): .available(binaries: binaries)
        case .unavailable(let reason): .unavailable(reason: reason)
        }
    }()

    /// True when `SLUICE_REQUIRE_POSTGRES=1`: a missing server fails the tests instead of skipping them.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["SLUICE_REQUIRE_POSTGRES"] == "1" }

    /// The marker the skipped tests' reason starts with; `.ci/run` looks for it in the test output.
    public static let skipMarker = "SLUICE-POSTGRES-SKIPPED"

    /// The skip reason shown for tests that need the server, when there is none.
    public static var skipComment: String {
        "\(skipMarker): PostgreSQL is not available (\(availability.reason ?? "")); "
            + "set SLUICE_REQUIRE_POSTGRES=1 to make this a failure"
    }

    /// The process's server, started on first use.
    ///
    /// - Throws: ``Unavailable`` with the reason when the programs are missing or the server did not start.
    public static func shared() throws -> PostgresServer {
        try sharedServer.get()
    }

    private static let sharedServer: Result<PostgresServer, Unavailable> = Result { () throws(Unavailable) in
        do {
            return PostgresServer(server: try ThrowawayPostgresServer(settings: .scratch))
        } catch let error as ThrowawayPostgresServer.Unavailable {
            throw Unavailable(reason: error.reason)
        } catch {
            throw Unavailable(reason: "\(error)")
        }
    }

    /// Why there is no server.
    public struct Unavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "PostgreSQL is not available for the tests: \(reason)" }
    }

    private let server: ThrowawayPostgresServer

    private init(server: ThrowawayPostgresServer) {
        self.server = server
    }

    /// The loopback port the server listens on.
    public var port: Int { server.port }
    /// The directory holding the data, the socket and the log.
    public var directory: String { server.directory }

    /// Creates a fresh, empty database and returns its URL.
    public func makeDatabase() throws -> String {
        do {
            return try server.makeDatabase()
        } catch let error as ThrowawayPostgresServer.Unavailable {
            throw Unavailable(reason: error.reason)
        }
    }

    /// The URL of `database` on this server, over loopback TCP.
    public func url(database: String) -> String {
        server.url(database: database)
    }
}
