import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore

/// `sluice init`: creates `.sluice/` and the database, and in a git repository records the target
/// branch and writes a commented starter `sluice.yml`; running it again changes nothing.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the .sluice/ folder and the database, and a starter sluice.yml (safe to run again).")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let path = global.databasePath()
        let server = GlobalOptions.isServer(path)
        // A server's ledger belongs to the repository around the current directory.
        let directory =
            server
            ? (GlobalOptions.projectRoot() as NSString).appendingPathComponent(".sluice")
            : (path as NSString).deletingLastPathComponent

        // The repository set up is the one that holds the database (a --db elsewhere sets up none).
        let repository = GlobalOptions.repositoryRoot(containing: directory.isEmpty ? "." : directory)
        if repository == nil, let bare = GitDirectory.bareRepository(containing: directory.isEmpty ? "." : directory) {
            throw SluiceError.invalidInput(
                "\(bare) is a bare git repository, which has no working tree for patches to land in: run "
                    + "`sluice init` in a clone of it, or in a worktree of it (`git worktree add PATH`)")
        }
        // A file's folder is made for it; with a server, the pipeline makes `.sluice/` in a repository.
        if !directory.isEmpty && !server {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw SluiceError.fileSystem("create", directory, error)
            }
        }
        let storage: any Storage
        let migrations: [String]
        var existed = !server && FileManager.default.fileExists(atPath: path)
        if server {
            // Opened for this command alone, to learn whether opening it created the ledger.
            let postgres = try await PostgresStorage(url: path)
            existed = !postgres.migratedOnOpen.contains { $0.hasPrefix("0001") }
            migrations = try await postgres.appliedMigrations()
            storage = postgres
        } else {
            let sqlite = try await global.storage(creating: true)
            migrations = try (sqlite as? SQLiteStorage)?.appliedMigrations() ?? []
            storage = sqlite
        }
        do {
            try setUp(storage, migrations: migrations, existed: existed, repository: repository)
        } catch {
            await (storage as? PostgresStorage)?.close()
            throw error
        }
        await (storage as? PostgresStorage)?.close()
    }

    /// Records the target branch, writes the starter configuration in a repository, and reports.
    private func setUp(_ storage: any Storage, migrations: [String], existed: Bool, repository: String?) throws {
        let location = global.databaseDescription(storage)
        var notes: [String] = []
        var branch: String?
        var wroteConfig = false
        if let repository {
            let pipeline = Pipeline(engine: Engine(EngineContext(storage: storage)), repository: repository)
            try pipeline.prepare()
            if let current = pipeline.recordedTargetBranch() {
                branch = current
            } else if let checkedOut = InitCommand.checkedOutBranch(repository) {
                try pipeline.recordTargetBranch(checkedOut)
                branch = checkedOut
            }
            let config = (repository as NSString).appendingPathComponent(ConfigLoader.fileName)
            if let branch, !FileManager.default.fileExists(atPath: config) {
                do {
                    try Data(ConfigLoader.starter(branch: branch).utf8).write(to: URL(fileURLWithPath: config))
                } catch {
                    throw SluiceError.fileSystem("write", config, error)
                }
                wroteConfig = true
                notes.append(
                    "wrote a starter \(ConfigLoader.fileName); commit it to \(branch): the pipeline reads it from there"
                )
            }
            if let branch { notes.append("patches land on \(branch)") }
        } else {
            notes.append(
                "not inside a git repository: the ledger commands work here, but `sluice patch submit` and "
                    + "`sluice run` need one; run `git init` (or `sluice init` inside a repository) to land patches")
        }
        struct Report: Encodable {
            let database: String
            let created: Bool
            let migrations: [String]
            let targetBranch: String?
            let wroteConfig: Bool

            enum CodingKeys: String, CodingKey {
                case database, created, migrations
                case targetBranch = "target_branch"
                case wroteConfig = "wrote_config"
            }
        }
        try Output(global).record(
            Report(
                database: location, created: !existed, migrations: migrations, targetBranch: branch,
                wroteConfig: wroteConfig),
            ((existed ? "database already initialised at " : "initialised database at ") + location
                + " (schema \(migrations.last ?? "none"))" + notes.map { "\n" + $0 }.joined()))
    }

    /// The branch HEAD names, read from the working tree's HEAD file; nil when detached.
    static func checkedOutBranch(_ repository: String) -> String? {
        guard let gitDirectory = GitDirectory.gitDirectory(ofWorkingTree: repository),
            let head = try? String(
                contentsOfFile: (gitDirectory as NSString).appendingPathComponent("HEAD"), encoding: .utf8),
            head.hasPrefix("ref: refs/heads/")
        else { return nil }
        return head.dropFirst("ref: refs/heads/".count).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
