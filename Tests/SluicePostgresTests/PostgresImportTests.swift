import SluiceCore
import SluicePostgres
import SluiceStore
import SluiceTesting
import Testing

/// What migration 0002 lets an import do to the event log, and what it still refuses.
@Suite("PostgreSQL copied events", .requiresPostgres)
struct PostgresImportTests {
    func insert(_ sequence: Int64, copying: Bool, into storage: PostgresStorage) async throws {
        try await storage.withRawTransaction { connection in
            if copying { _ = try connection.query("SELECT set_config('sluice.copying_events', 'on', true)") }
            _ = try connection.execute(
                """
                INSERT INTO events (seq, entity_kind, entity_id, at, actor)
                VALUES (\(sequence), 'worker', 'w', '2026-01-01T00:00:00.000Z', 'test')
                """)
        }
    }

    @Test("with the setting on, an event keeps its number only past the end of the log")
    func copiedEventsGoAtTheEnd() async throws {
        let storage = try await PostgresServer.makeStorage()
        try await insert(5, copying: true, into: storage)
        await #expect {
            try await insert(4, copying: true, into: storage)
        } throws: { ($0 as? SluiceError)?.message.contains("must come after every event already in the log") == true }
        await #expect(throws: SluiceError.self) { try await insert(5, copying: true, into: storage) }
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.sequence) == [5])
        await storage.close()
    }

    @Test("without the setting, a given number is ignored and the next one drawn, as before")
    func ordinaryEventsAreNumbered() async throws {
        // One connection: the setting of one unit must not outlive it on the pooled connection.
        let storage = try await PostgresServer.makeStorage(poolSize: 1)
        try await insert(5, copying: true, into: storage)
        try await insert(3000, copying: false, into: storage)
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.sequence) == [1, 5])
        await storage.close()
    }
}
