import Foundation
import SluiceCLI
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore
import SluiceTesting
import Testing

/// `sluice db copy`: the whole ledger from one backend to another, ids and event numbers kept, verified;
/// refused, with nothing written, into a database that holds anything or onto the source itself.
@Suite("sluice db copy")
struct DatabaseCopyTests {
    /// Runs `sluice db copy --to destination --db source --json` in process.
    static func copy(from source: String, to destination: String, json: Bool = true) async -> CLIHarness.Output {
        let result = await SluiceRunner.execute(
            ["db", "copy", "--to", destination, "--db", source] + (json ? ["--json"] : []))
        return CLIHarness.Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Checks a successful copy's report against the source's contents.
    static func expectReport(_ output: CLIHarness.Output, of contents: LedgerContents) throws {
        #expect(output.status == 0, "\(output.stderr)")
        let report = try output.object()
        #expect(report["verified"] as? Bool == true)
        let counts = try #require(report["counts"] as? [String: Any])
        #expect(counts["workers"] as? Int == contents.workers.count)
        #expect(counts["patches"] as? Int == contents.patches.count)
        #expect(counts["patch_sources"] as? Int == contents.sources.count)
        #expect(counts["gates"] as? Int == contents.gates.count)
        #expect(counts["costs"] as? Int == contents.costs.count)
        #expect(counts["events"] as? Int == contents.events.count)
        #expect((counts["last_sequence"] as? NSNumber)?.int64Value == contents.events.last?.sequence)
        #expect((report["digest"] as? String)?.count == 64)
    }

    /// Appends a transition on the copy and expects its event after every copied one, and a follower
    /// reading after the last copied number to see it, alone.
    static func expectNewEventsFollow(_ copy: any Storage, fixture: LedgerFixture, last: Int64) async throws {
        let engine = makeEngine(over: copy)
        try await engine.workers.shutdown(fixture.idleWorker)
        let after = try await copy.events(entityID: nil, after: last, limit: nil)
        #expect(after.count == 1)
        let new = try #require(after.first)
        #expect(new.entityID == fixture.idleWorker.description)
        #expect(new.toState == "stopped")
        #expect(new.sequence > last)
    }

    /// The facts of the fixture the copy must keep, checked on the copy itself.
    static func expectFixtureFacts(_ contents: LedgerContents, _ fixture: LedgerFixture) throws {
        let source = try #require(contents.sources[fixture.committedPatch])
        #expect(source.bytes == LedgerFixture.diff)
        #expect(source.landedCommit == String(repeating: "d", count: 40))
        #expect(source.author == "Ada Lovelace <ada@example.com>")
        #expect(contents.sources.count == 2)
        #expect(Set(contents.sources.values.map(\.sha256)).count == 1)
        #expect(
            contents.totals == [
                CostTotal(currency: try Currency("EUR"), amount: try ExactDecimal(parsing: "0.25"), count: 1),
                CostTotal(currency: .usd, amount: try ExactDecimal(parsing: "0.3"), count: 3),
            ])
        #expect(!contents.costs.contains { $0.costID == fixture.deletedCost })
        #expect(
            contents.events.contains {
                $0.entityID == fixture.deletedCost.description && $0.toState == "deleted"
                    && $0.payload["deleted"] != nil
            })
        #expect(
            contents.patches.first { $0.ledgerID == fixture.committedPatch }?.stateHistory.map(\.state) == [
                .created, .validated, .queued, .applied, .verified, .committed,
            ])
    }

    // MARK: - Round trips

    @Test("SQLite to SQLite: every record and event is copied by value, and new events follow the copied ones")
    func sqliteToSQLite() async throws {
        let directory = TemporaryDirectory()
        let sourcePath = directory.file("source.db")
        let source = try SQLiteStorage(path: sourcePath)
        let fixture = try await LedgerFixture.make(on: source)
        let original = try await LedgerContents.read(source)

        let destinationPath = directory.file("copy.db")
        let output = await Self.copy(from: sourcePath, to: destinationPath)
        try Self.expectReport(output, of: original)

        let copy = try SQLiteStorage(path: destinationPath)
        let copied = try await LedgerContents.read(copy)
        original.expectEqual(copied)
        try Self.expectFixtureFacts(copied, fixture)
        try await Self.expectNewEventsFollow(copy, fixture: fixture, last: try #require(original.events.last).sequence)
        #expect(try await LedgerContents.read(source) == original)
    }

    @Test("SQLite to PostgreSQL: every record and event is copied by value, and new events follow", .requiresPostgres)
    func sqliteToPostgres() async throws {
        let directory = TemporaryDirectory()
        let sourcePath = directory.file("sluice.db")
        let source = try SQLiteStorage(path: sourcePath)
        let fixture = try await LedgerFixture.make(on: source)
        let original = try await LedgerContents.read(source)

        let url = try PostgresServer.shared().makeDatabase()
        let output = await Self.copy(from: sourcePath, to: url, json: false)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.hasPrefix("copied 3 workers, 3 patches (2 with diffs), 3 gates, 4 cost records, "))
        #expect(output.stdout.contains("and verified the copy"))
        #expect(output.stdout.split(separator: "\n").count == 1)

        let copy = try await PostgresStorage(url: url)
        let copied = try await LedgerContents.read(copy)
        original.expectEqual(copied)
        try Self.expectFixtureFacts(copied, fixture)
        try await Self.expectNewEventsFollow(copy, fixture: fixture, last: try #require(original.events.last).sequence)
        await copy.close()
    }

    @Test("PostgreSQL to SQLite: records, events and their exact numbers (gaps too) come across", .requiresPostgres)
    func postgresToSQLite() async throws {
        let url = try PostgresServer.shared().makeDatabase()
        let source = try await PostgresStorage(url: url)
        let fixture = try await LedgerFixture.make(on: source)
        // A unit that drew an event's number and rolled back leaves a gap, which the copy keeps.
        struct Abandon: Error {}
        _ = try? await source.withRawTransaction { connection in
            _ = try connection.execute(
                """
                INSERT INTO events (entity_kind, entity_id, at, actor)
                VALUES ('worker', 'abandoned', '2026-01-01T00:00:00.000Z', 'test')
                """)
            throw Abandon()
        }
        try await makeEngine(over: source).workers.create(type: .scheduler)
        let original = try await LedgerContents.read(source)
        let sequences = original.events.map(\.sequence)
        #expect(sequences.last == Int64(sequences.count + 1), "one number was skipped: \(sequences)")

        let directory = TemporaryDirectory()
        let destinationPath = directory.file("sluice.db")
        let output = await Self.copy(from: url, to: destinationPath)
        try Self.expectReport(output, of: original)

        let copy = try SQLiteStorage(path: destinationPath)
        let copied = try await LedgerContents.read(copy)
        original.expectEqual(copied)
        try Self.expectFixtureFacts(copied, fixture)
        try await Self.expectNewEventsFollow(copy, fixture: fixture, last: try #require(sequences.last))
        await source.close()
    }

    // MARK: - Refusals

    @Test("a destination that holds a record is refused, exit 64, and neither side changes")
    func nonEmptySQLiteDestination() async throws {
        let directory = TemporaryDirectory()
        let sourcePath = directory.file("source.db")
        let source = try SQLiteStorage(path: sourcePath)
        _ = try await LedgerFixture.make(on: source)
        let destinationPath = directory.file("busy.db")
        let destination = try SQLiteStorage(path: destinationPath)
        try await makeEngine(over: destination).workers.create(type: .custom)
        let before = (try await LedgerContents.read(source), try await LedgerContents.read(destination))

        let output = await Self.copy(from: sourcePath, to: destinationPath, json: false)
        #expect(output.status == 64)
        #expect(
            output.stderr
                == "error: the destination already holds records or events; a ledger is copied only into an empty "
                + "database\n")
        #expect(output.stdout.isEmpty)
        #expect(try await LedgerContents.read(source) == before.0)
        #expect(try await LedgerContents.read(destination) == before.1)
    }

    @Test("a PostgreSQL destination that holds an event is refused, exit 64, unchanged", .requiresPostgres)
    func nonEmptyPostgresDestination() async throws {
        let directory = TemporaryDirectory()
        let sourcePath = directory.file("source.db")
        _ = try await LedgerFixture.make(on: try SQLiteStorage(path: sourcePath))
        let url = try PostgresServer.shared().makeDatabase()
        let destination = try await PostgresStorage(url: url)
        try await destination.append(
            Event(
                entityKind: .worker, entityID: "note", fromState: nil, toState: nil, reason: "a note",
                at: .init(
                    milliseconds: 0), actor: "test"))
        let before = try await LedgerContents.read(destination)

        let output = await Self.copy(from: sourcePath, to: url)
        #expect(output.status == 64)
        #expect(output.stderr.contains("already holds records or events"))
        #expect(try await LedgerContents.read(destination) == before)
        await destination.close()
    }

    @Test("copying a database onto itself is refused, by any path to it, and changes nothing")
    func sameSQLiteDatabase() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sluice.db")
        let storage = try SQLiteStorage(path: path)
        _ = try await LedgerFixture.make(on: storage)
        let before = try await LedgerContents.read(storage)
        let link = directory.file("link.db")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)

        try FileManager.default.createDirectory(atPath: directory.file("sub"), withIntermediateDirectories: true)
        for destination in [path, link, directory.file("./sub/../sluice.db")] {
            let output = await Self.copy(from: path, to: destination, json: false)
            #expect(output.status == 64, "\(destination)")
            #expect(
                output.stderr == "error: the source and the destination are the same database; nothing was copied\n",
                "\(destination)")
        }
        #expect(try await LedgerContents.read(storage) == before)
    }

    @Test("an empty database copied onto itself is refused too", .requiresPostgres)
    func samePostgresDatabase() async throws {
        let server = try PostgresServer.shared()
        let url = try server.makeDatabase()
        // The same database through the Unix socket rather than TCP: another URL, one database.
        let socket = url + "?host=\(server.directory)"
        for destination in [url, socket] {
            let output = await Self.copy(from: url, to: destination)
            #expect(output.status == 64, "\(destination): \(output.stderr)")
            #expect(output.stderr.contains("the same database"), "\(destination)")
        }
        let storage = try await PostgresStorage(url: url)
        #expect(try await LedgerContents.read(storage).events.isEmpty)
        await storage.close()
    }

    @Test("a destination migrated by a newer Sluice is refused, exit 64, and left as it is", .requiresPostgres)
    func newerDestination() async throws {
        let directory = TemporaryDirectory()
        let sourcePath = directory.file("source.db")
        _ = try await LedgerFixture.make(on: try SQLiteStorage(path: sourcePath))
        let url = try PostgresServer.shared().makeDatabase()
        let destination = try await PostgresStorage(url: url)
        try await destination.withRawTransaction { connection in
            _ = try connection.execute("INSERT INTO sluice_migrations (name) VALUES ('9999_from_the_future')")
        }

        let output = await Self.copy(from: sourcePath, to: url, json: false)
        #expect(output.status == 64)
        #expect(output.stderr.hasPrefix("error: cannot copy: the database at "))
        #expect(output.stderr.contains("was migrated by a newer Sluice (schema 9999_from_the_future"))
        // Still open from before the refusal: the database holds what it held.
        let (events, workers) = try await destination.withRawTransaction { connection in
            (
                try connection.query("SELECT count(*) FROM events").first?.decode(Int64.self),
                try connection.query("SELECT count(*) FROM workers").first?.decode(Int64.self)
            )
        }
        #expect(events == 0)
        #expect(workers == 0)
        #expect(try await destination.appliedMigrations().last == "9999_from_the_future")
        await destination.close()
    }

    @Test("a missing source is refused without creating it")
    func missingSource() async throws {
        let directory = TemporaryDirectory()
        let output = await Self.copy(from: directory.file("none.db"), to: directory.file("copy.db"), json: false)
        #expect(output.status == 64)
        #expect(output.stderr == "error: no Sluice database at \(directory.file("none.db")) to copy from\n")
        #expect(!FileManager.default.fileExists(atPath: directory.file("none.db")))
        #expect(!FileManager.default.fileExists(atPath: directory.file("copy.db")))
    }
}
