import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long, help: "The database file (default: $SLUICE_DB, else .sluice/sluice.db at the repository root).")
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

    /// The nearest directory at or above the current one that holds `.git`, else the current directory.
    static func projectRoot() -> String {
        let current = FileManager.default.currentDirectoryPath
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

    /// Opens the existing database and makes the engine over it.
    ///
    /// - Throws: `invalidInput` when there is no database at the path (run `sluice init`).
    func engine() throws -> Engine {
        let path = databasePath()
        guard FileManager.default.fileExists(atPath: path) else {
            throw SluiceError.invalidInput("no Sluice database at \(path): run `sluice init` first")
        }
        let storage = try SQLiteStorage(path: path)
        return Engine(EngineContext(storage: storage, actor: GlobalOptions.actor()))
    }

    /// The landing pipeline for the repository around the current directory.
    ///
    /// - Throws: `invalidInput` outside a git repository or without a database.
    func pipeline() throws -> Pipeline {
        guard let repository = GlobalOptions.repositoryRoot(containing: FileManager.default.currentDirectoryPath) else {
            throw SluiceError.invalidInput("not inside a git repository: the landing pipeline works on one")
        }
        return Pipeline(engine: try engine(), repository: repository)
    }

    /// Who runs the command, as recorded in events.
    static func actor() -> String {
        let environment = ProcessInfo.processInfo.environment
        return "cli:" + (environment["SLUICE_ACTOR"] ?? environment["USER"] ?? "unknown")
    }
}
