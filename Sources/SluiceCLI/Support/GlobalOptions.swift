import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore
import Synchronization

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The database: a SQLite file, or a PostgreSQL server as postgres://USER[:PASSWORD]@HOST[:PORT]/DB "
                + "(default: $SLUICE_DB, else .sluice/sluice.db at the repository root).", valueName: "path|url"))
    var db: String?

    @Flag(name: .long, help: "Print JSON: one object, or JSON Lines for lists.")
    var json = false

    /// The database path by the rules of DESIGN.md: --db, else $SLUICE_DB, else `.sluice/sluice.db`
    /// at the root of the current git repository (or the current directory outside one).
    func databasePath() -> String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["SLUICE_DB"], !env.isEmpty { return env }
        return (GlobalOptions.projectRoot() as NSString).appendingPathComponent(".sluice/sluice.db")
    }

    /// The directory a command works from: the process's, unless an in-process run set another
    /// (tests, which must not set up the repository they happen to run in).
    @TaskLocal static var workingDirectory: String?

    static var currentDirectory: String { workingDirectory ?? FileManager.default.currentDirectoryPath }

    /// The nearest directory at or above the current one that holds `.git`, else the current directory.
    static func projectRoot() -> String {
        let current = currentDirectory
        return repositoryRoot(containing: current) ?? current
    }

    /// The nearest directory at or above `path` that holds `.git`, or nil.
    static func repositoryRoot(containing path: String) -> String? {
        var directory = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(".git").path) {
                return directory.path
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { return nil }
            directory = parent
        }
    }

    /// Whether the database is a PostgreSQL server (a `postgres://` or `postgresql://` URL).
    static func isServer(_ location: String) -> Bool {
        let scheme = location.prefix(14).lowercased()
        return scheme.hasPrefix("postgres://") || scheme.hasPrefix("postgresql://")
    }

    /// Opens the database: a SQLite file (created when `creating`), or a PostgreSQL database, whose
    /// schema is brought up to date. A server's connections are opened once per process and shared.
    ///
    /// - Throws: `invalidInput` when there is no database file and not `creating` (run `sluice init`).
    func storage(creating: Bool = false) async throws -> any Storage {
        let location = databasePath()
        if GlobalOptions.isServer(location) { return try await GlobalOptions.server(location) }
        guard creating || FileManager.default.fileExists(atPath: location) else {
            throw SluiceError.invalidInput("no Sluice database at \(location): run `sluice init` first")
        }
        return try SQLiteStorage(path: location)
    }

    /// Opened servers, by URL: in-process tests run many commands, and each would open a pool.
    private static let servers = Mutex<[String: PostgresStorage]>([:])

    private static func server(_ url: String) async throws -> PostgresStorage {
        if let open = servers.withLock({ $0[url] }) { return open }
        let storage = try await PostgresStorage(url: url)
        return servers.withLock { servers in
            if let open = servers[url] { return open }
            servers[url] = storage
            return storage
        }
    }

    /// Where the database is, for messages: a server's URL without its password.
    func databaseDescription(_ storage: any Storage) -> String {
        (storage as? PostgresStorage)?.location ?? databasePath()
    }

    /// Opens the existing database and makes the engine over it.
    ///
    /// - Throws: `invalidInput` when there is no database at the path (run `sluice init`).
    func engine() async throws -> Engine {
        Engine(EngineContext(storage: try await storage(), actor: GlobalOptions.actor()))
    }

    /// The landing pipeline for the repository around the current directory.
    ///
    /// - Throws: `invalidInput` outside a git repository or without a database.
    func pipeline() async throws -> Pipeline {
        guard let repository = GlobalOptions.repositoryRoot(containing: GlobalOptions.currentDirectory) else {
            throw SluiceError.invalidInput("not inside a git repository: the landing pipeline works on one")
        }
        return Pipeline(engine: try await engine(), repository: repository)
    }

    /// Who runs the command, as recorded in events.
    static func actor() -> String {
        let environment = ProcessInfo.processInfo.environment
        return "cli:" + (environment["SLUICE_ACTOR"] ?? environment["USER"] ?? "unknown")
    }
}
