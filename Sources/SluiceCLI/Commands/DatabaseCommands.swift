import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore

/// `sluice db`: the database itself.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Work on the database itself: move a ledger to another backend.",
        subcommands: [DatabaseCopyCommand.self])
}

/// `sluice db copy --to DEST`: the whole ledger into another, empty database, verified.
struct DatabaseCopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy the whole ledger into an empty database (SQLite or PostgreSQL) and verify the copy.",
        discussion: """
            Copies every worker, patch (with its diff, commits, base, author and priority), gate, cost record, task, budget \
            (with its spend and holds), currency rate and event from the database of --db (a SQLite file or a \
            postgres:// URL) to the one of --to, keeping every id and every event's sequence number; the running \
            cost totals are rebuilt from the records. The destination takes it \
            in one transaction: a copy that fails leaves nothing. The copy is then read back from both sides and \
            compared record by record and event by event.

            The destination must hold no record and no event; a SQLite destination is created when missing. Stop \
            the workers and runs on the source first: the copy holds what the source held when it was read, and \
            a source on which a run is gating a patch (its hold on the budgets in flight) is refused.
            """)

    @OptionGroup var global: GlobalOptions
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The destination: a SQLite file, or a PostgreSQL server as postgres://USER[:PASSWORD]@HOST[:PORT]/DB.",
            valueName: "path|url"))
    var to: String

    func run() async throws {
        let source = try await Self.open(global.databasePath(), role: "source", creating: false)
        let destination: Opened
        let report: LedgerCopier.Report
        do {
            destination = try await Self.open(to, role: "destination", creating: true)
        } catch {
            await source.close()
            throw error
        }
        do {
            report = try await LedgerCopier(from: source.storage, to: destination.storage).copy()
            await source.close()
            await destination.close()
        } catch {
            await source.close()
            await destination.close()
            throw error
        }
        try Output(global).record(
            Report(
                source: source.location, destination: destination.location, counts: report.counts,
                digest: report.digest, verified: report.verified),
            "copied \(report.counts.summary) from \(source.location) to \(destination.location) and verified the "
                + "copy: every record and event reads back the same on both sides (SHA-256 \(report.digest.prefix(16)))"
        )
    }

    /// What `--json` prints.
    struct Report: Encodable {
        let source: String
        let destination: String
        let counts: LedgerSnapshot.Counts
        /// SHA-256 of every record and event, the same read from either side.
        let digest: String
        let verified: Bool
    }

    // MARK: - Opening

    /// An open database and where it is, for messages (a server's URL without its password).
    struct Opened: Sendable {
        let storage: any Storage
        let location: String

        func close() async {
            await (storage as? PostgresStorage)?.close()
        }
    }

    /// Opens a SQLite file or a PostgreSQL database and brings its schema up to date.
    ///
    /// - Throws: `invalidInput` when a source file is missing, a destination file's directory is
    ///   missing, or the database was migrated by a newer Sluice (nothing is written to it).
    static func open(_ location: String, role: String, creating: Bool) async throws -> Opened {
        do {
            if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
                let storage = try await PostgresStorage(url: location)
                return Opened(storage: storage, location: storage.location)
            }
            if !FileManager.default.fileExists(atPath: location) {
                guard creating else {
                    throw SluiceError.invalidInput("no Sluice database at \(location) to copy from")
                }
                let directory = (location as NSString).deletingLastPathComponent
                guard directory.isEmpty || FileManager.default.fileExists(atPath: directory) else {
                    throw SluiceError.invalidInput(
                        "cannot create the \(role) at \(location): no directory \(directory)")
                }
            }
            return Opened(storage: try SQLiteStorage(path: location), location: location)
        } catch let error as SluiceError where error.isNewerSchema {
            throw SluiceError.invalidInput("cannot copy: \(error.message)")
        }
    }
}
