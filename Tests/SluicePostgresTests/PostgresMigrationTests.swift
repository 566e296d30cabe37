import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

@testable import SluicePostgres

@Suite("PostgreSQL migrations and connections")
struct PostgresMigrationTests {
    @Test("opening a new database applies every migration once, even from several processes at once", .requiresPostgres)
    func concurrentOpen() async throws {
        try PostgresServer.skipUnlessAvailable()
        let url = try PostgresServer.shared().makeDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresStorage.self) { group in
            for _ in 0..<4 { group.addTask { try await PostgresStorage(url: url) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for store in stores {
            #expect(try await store.appliedMigrations() == PostgresMigrator.migrations.map(\.name))
            await store.close()
        }
        let again = try await PostgresStorage(url: url)
        #expect(
            try await again.appliedMigrations() == [
                "0001_initial", "0002_copied_events", "0003_shared_event_lock", "0004_settled_bound", "0005_tasks",
                "0006_patch_history", "0007_budgets", "0008_cost_daily", "0009_unpriced",
                "0010_currency_rates", "0011_gate_holds", "0012_patch_priority", "0013_test_quarantines",
            ])
    }

    @Test("migration 0009 takes the zero out of unpriced records and keeps the sums and rules", .requiresPostgres)
    func unpricedMigration() async throws {
        try PostgresServer.skipUnlessAvailable()
        let url = try PostgresServer.shared().makeDatabase()
        var options = PostgresStorage.Options(poolSize: 2)
        options.migrationsApplied = 8
        let old = try await PostgresStorage(url: url, options: options)
        let unpricedID = CostID.make()
        let pricedID = CostID.make()
        let labelledID = CostID.make()
        _ = try await old.withRawTransaction { connection in
            // The third says unpriced in metadata anyone can write, but has an amount: it keeps it.
            for (id, units, source) in [
                (unpricedID, 0, "unpriced"), (pricedID, 2_500_000_000, "priced"),
                (labelledID, 5_000_000_000, "unpriced"),
            ] {
                try connection.execute(
                    """
                    INSERT INTO costs (cost_id, project_id, resource_type, resource_name, amount_units, currency,
                        recorded_at, metadata)
                    VALUES ('\(id)', 'p', 'api_call', 'm', \(units), 'USD', '2026-05-01T10:00:00.000Z',
                        '{"amount_source": "\(source)"}')
                    """)
            }
        }
        #expect(try await old.appliedMigrations().last == "0008_cost_daily")
        await old.close()
        let storage = try await PostgresStorage(url: url)
        #expect(
            storage.migratedOnOpen == [
                "0009_unpriced", "0010_currency_rates", "0011_gate_holds", "0012_patch_priority",
                "0013_test_quarantines",
            ])
        #expect(try await storage.cost(unpricedID)?.amount == nil)
        #expect(try await storage.cost(pricedID)?.amount == ExactDecimal(units: 2_500_000_000))
        #expect(
            try await storage.costTotals(CostFilter())
                == [CostTotal(currency: .usd, amount: ExactDecimal(units: 7_500_000_000), count: 3)])
        #expect(try await storage.cost(labelledID)?.amount == ExactDecimal(units: 5_000_000_000))
        let report = try await storage.read { try $0.costReport(by: .model, try CostReportRange()) }
        #expect(
            report.map(\.unpriced) == [1] && report.map(\.records) == [3]
                && report.map(\.amount) == [ExactDecimal(units: 7_500_000_000)])
        // Records stay immutable after the one rewrite.
        await #expect(throws: (any Error).self) {
            try await storage.withRawTransaction { try $0.execute("UPDATE costs SET amount_units = 1") }
        }
        let deleted = try await storage.deleteCost(unpricedID) { record in
            Event(
                entityKind: .cost, entityID: record.costID.description, fromState: "recorded", toState: "deleted",
                reason: nil, at: record.recordedAt, actor: "t")
        }
        #expect(deleted.amount == nil)
        let after = try await storage.read { try $0.costReport(by: .model, try CostReportRange()) }
        #expect(after.map(\.unpriced) == [0] && after.map(\.records) == [2])
        await storage.close()
    }

    @Test("a database migrated by a newer Sluice is refused before anything is written", .requiresPostgres)
    func newerSchemaRefused() async throws {
        try PostgresServer.skipUnlessAvailable()
        let url = try PostgresServer.shared().makeDatabase()
        let storage = try await PostgresStorage(url: url)
        _ = try await storage.withRawTransaction { connection in
            try connection.execute("INSERT INTO sluice_migrations (name) VALUES ('9999_from_the_future')")
        }
        await storage.close()
        await #expect {
            try await PostgresStorage(url: url)
        } throws: { error in
            code(of: error) == .storage
                && (error as? SluiceError)?.message.contains("newer Sluice (schema 9999_from_the_future") == true
        }
    }

    @Test("a server that does not answer is a storage error that says where")
    func unreachable() async throws {
        var options = PostgresStorage.Options(poolSize: 1)
        options.connectTimeout = .seconds(2)
        await #expect {
            try await PostgresStorage(url: "postgres://nobody@127.0.0.1:1/none", options: options)
        } throws: { error in
            code(of: error) == .storage && (error as? SluiceError)?.message.contains("127.0.0.1:1/none") == true
        }
    }

    @Test(
        "malformed URLs are invalid input, and the message never repeats the password",
        arguments: [
            "mysql://u:secret@h/db", "postgres://h/db", "postgres://u:secret@/db", "postgres://u:secret@h/",
            "postgres://u:secret@h:99999/db", "postgres://u:secret@h/db?sslmode=maybe", "postgres://u:secret@h/db?x=1",
        ])
    func malformedURL(url: String) async throws {
        await #expect {
            try await PostgresStorage(url: url)
        } throws: { error in
            code(of: error) == .invalidInput && (error as? SluiceError)?.message.contains("secret") == false
        }
    }

    @Test("a URL's parts: user, password, host, port, database, socket directory and TLS mode")
    func addressParts() throws {
        let plain = try PostgresAddress(parsing: "postgres://me:pw@db.example:6543/ledger")
        #expect(plain.user == "me" && plain.password == "pw" && plain.host == "db.example")
        #expect(plain.port == 6543 && plain.database == "ledger" && plain.tls == .disable)
        #expect(plain.redacted == "postgres://me@db.example:6543/ledger")
        let socket = try PostgresAddress(parsing: "postgresql://me@localhost/ledger?host=/run/pg&sslmode=require")
        #expect(
            socket.socketDirectory == "/run/pg" && socket.host == nil && socket.port == 5432 && socket.tls == .require)
    }

    @Test("a migration script splits into its statements, keeping quoted and dollar-quoted semicolons")
    func splitting() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y');
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'no; never';
            END
            $$;
            SELECT $1, "odd;name" FROM t;
            -- trailing comment
            """
        let statements = PostgresMigrator.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[0].hasSuffix("CREATE TABLE t (a text DEFAULT 'x;y')"))
        #expect(statements[1].hasPrefix("CREATE FUNCTION f()") && statements[1].hasSuffix("$$"))
        #expect(statements[2] == #"SELECT $1, "odd;name" FROM t"#)
        #expect(PostgresMigrator.statements(in: PostgresMigrator.migrations[0].sql).count > 20)
    }
}
