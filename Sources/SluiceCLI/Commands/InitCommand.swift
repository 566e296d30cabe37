import ArgumentParser
import Foundation
import SluiceCore
import SluiceStore

/// `sluice init`: creates `.sluice/` and the database; running it again changes nothing.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the .sluice/ folder and the database (safe to run again).")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let path = global.databasePath()
        let directory = (path as NSString).deletingLastPathComponent
        let existed = FileManager.default.fileExists(atPath: path)
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw SluiceError.invalidInput("cannot create \(directory): \(error.localizedDescription)")
            }
        }
        let storage = try SQLiteStorage(path: path)
        let migrations = try storage.appliedMigrations()
        struct Report: Encodable {
            let database: String
            let created: Bool
            let migrations: [String]
        }
        try Output(global).record(
            Report(database: path, created: !existed, migrations: migrations),
            (existed ? "database already initialised at " : "initialised database at ") + path
                + " (schema \(migrations.last ?? "none"))")
    }
}
