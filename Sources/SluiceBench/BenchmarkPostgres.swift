import Foundation
import PostgresNIO
import SluiceCore
import SluicePostgres

/// The PostgreSQL server the benchmarks of the `postgres` and `follow` groups run on: one named by
/// `--db`, or a throwaway server they start with a real server's durable defaults and stop afterwards.
final class BenchmarkPostgres: Sendable {
    private enum Source {
        case existing(url: String)
        case throwaway(ThrowawayPostgresServer)
    }

    private let source: Source
    /// Where the server is and who started it, for the JSON lines.
    let server: String
    /// The server's version and durability settings, as the server itself reports them.
    let settings: String

    private init(source: Source, server: String, settings: String) {
        self.source = source
        self.server = server
        self.settings = settings
    }

    /// The server for `choice`, or the reason there is none (PostgreSQL's programs are missing and
    /// no server was named).
    ///
    /// - Throws: when a named server cannot be reached, or a throwaway server's programs are there but fail.
    static func open(_ choice: BenchmarkSuite.PostgresServer) async throws -> Result<BenchmarkPostgres, Skipped> {
        switch choice {
        case .existing(let url):
            let address = try PostgresAddress(parsing: url)
            let settings = try await readSettings(url)
            return .success(
                BenchmarkPostgres(
                    source: .existing(url: url), server: "given by --db: \(address.redacted)", settings: settings))
        case .throwaway:
            if let reason = ThrowawayPostgresServer.availability.reason { return .failure(Skipped(reason: reason)) }
            let server = try ThrowawayPostgresServer(settings: .durable)
            do {
                let settings = try await readSettings(server.url(database: "postgres"))
                return .success(
                    BenchmarkPostgres(
                        source: .throwaway(server),
                        server: "throwaway: initdb + pg_ctl on 127.0.0.1:\(server.port) in \(server.directory), "
                            + "stopped and deleted after",
                        settings: settings))
            } catch {
                server.stop()
                throw error
            }
        }
    }

    /// Why the PostgreSQL benchmarks did not run.
    struct Skipped: Error {
        let reason: String
    }

    /// A database for one benchmark: a fresh one on a throwaway server, the named one otherwise.
    func makeDatabase() throws -> String {
        switch source {
        case .existing(let url): return url
        case .throwaway(let server): return try server.makeDatabase(prefix: "sluice_bench")
        }
    }

    /// Stops and deletes a throwaway server; leaves a named one alone.
    func stop() {
        if case .throwaway(let server) = source { server.stop() }
    }

    /// The details every PostgreSQL line carries.
    var detail: [String: JSONValue] {
        ["server": .string(server), "settings": .string(settings)]
    }

    // MARK: - Raw connections

    static let logger: Logger = {
        var logger = Logger(label: "sluice.bench.postgres")
        logger.logLevel = .critical
        return logger
    }()

    /// A postgres-nio connection of its own to `url`, outside any Sluice code.
    ///
    /// It waits up to 30 s for the connection, as the storage does: a server just started on a busy
    /// machine can take its time. A failure is said in words (postgres-nio's own description hides it).
    static func connect(_ url: String, id: Int) async throws -> PostgresConnection {
        var configuration = try PostgresAddress(parsing: url).configuration()
        configuration.options.connectTimeout = .seconds(30)
        do {
            return try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        } catch let error as PSQLError {
            throw SluiceError(
                code: .storage, message: "cannot connect to the benchmark's server: \(error.code)",
                detail: String(reflecting: error))
        }
    }

    private static func readSettings(_ url: String) async throws -> String {
        let connection = try await connect(url, id: 0)
        do {
            let rows = try await connection.query(
                """
                SELECT current_setting('server_version'), current_setting('fsync'),
                       current_setting('synchronous_commit'), current_setting('full_page_writes')
                """, logger: logger)
            var settings: String?
            for try await (version, fsync, synchronousCommit, fullPageWrites) in rows.decode(
                (String, String, String, String).self)
            {
                settings =
                    "PostgreSQL \(version); fsync=\(fsync), synchronous_commit=\(synchronousCommit), "
                    + "full_page_writes=\(fullPageWrites)"
            }
            try await connection.close()
            guard let settings else {
                throw SluiceError(code: .storage, message: "the server did not report its settings")
            }
            return settings
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
