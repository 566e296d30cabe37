import SluiceCore
import SluicePostgres
import SluiceStore
import SluiceTesting
import Testing

/// Money, the event log, and the rules the PostgreSQL schema itself enforces.
@Suite("PostgreSQL costs, events and schema", .requiresPostgres)
struct PostgresCostAndEventTests {
    func cost(
        _ amount: String, currency: Currency = .usd, project: String? = nil, type: ResourceType = .apiCall,
        at offset: Int64 = 0
    ) throws -> CostRecord {
        try CostRecord(
            costID: .make(), projectID: project, resourceType: type, amount: ExactDecimal(parsing: amount),
            currency: currency, recordedAt: now.adding(milliseconds: offset))
    }

    func record(_ cost: CostRecord) -> (CostRecord, Event) {
        (cost, event(.cost, cost.costID.description, from: nil, to: "recorded"))
    }

    @Test("ten costs of 0.1 total exactly 1; totals are per currency; deleting updates the running sums")
    func exactTotals() async throws {
        let storage = try await PostgresServer.makeStorage()
        var ids: [CostID] = []
        for index in 0..<10 {
            let item = try cost(
                "0.1", project: index < 5 ? "a" : "b", type: index % 2 == 0 ? .apiCall : .computeTime, at: Int64(index))
            try await storage.insertCost(item, event: record(item).1)
            ids.append(item.costID)
        }
        let euro = try cost("2.5", currency: Currency("EUR"), type: .storage)
        try await storage.insertCost(euro, event: record(euro).1)
        #expect(
            try await storage.costTotals(CostFilter()) == [
                CostTotal(currency: try Currency("EUR"), amount: try ExactDecimal(parsing: "2.5"), count: 1),
                CostTotal(currency: .usd, amount: try ExactDecimal(parsing: "1"), count: 10),
            ])
        #expect(
            try await storage.costTotals(CostFilter(projectID: "a")).first?.amount == (try ExactDecimal(parsing: "0.5"))
        )
        let breakdown = try await storage.costBreakdown(CostFilter(currency: .usd))
        #expect(breakdown.map(\.resourceType) == [.apiCall, .computeTime])
        #expect(breakdown.map(\.amount.description) == ["0.5", "0.5"])

        let deleted = try await storage.deleteCost(ids[0]) { record in
            var note = event(.cost, record.costID.description, from: "recorded", to: "deleted")
            note.payload = ["amount": .string((record.amount?.description ?? ""))]
            return note
        }
        #expect(deleted.costID == ids[0])
        #expect(try await storage.cost(ids[0]) == nil)
        #expect(
            try await storage.costTotals(CostFilter(currency: .usd)).first?.amount == (try ExactDecimal(parsing: "0.9"))
        )
        #expect(try await storage.costs(CostFilter(), limit: 3).map(\.costID) == [ids[9], ids[8], ids[7]])
        #expect(try await storage.costs(CostFilter(resourceType: .storage), limit: nil) == [euro])
        // The deletion left an event holding what was deleted.
        let trail = try await storage.events(entityID: ids[0].description, after: 0, limit: nil)
        #expect(trail.map(\.toState) == ["recorded", "deleted"])
        #expect(trail.last?.payload["amount"] == .string("0.1"))
    }

    @Test("a cost that would push a currency's total past what a bigint of billionths holds is refused whole")
    func overflowRefused() async throws {
        let storage = try await PostgresServer.makeStorage()
        let big = ExactDecimal(units: .max - 10)
        let first = try CostRecord(costID: .make(), resourceType: .custom, amount: big, currency: .usd, recordedAt: now)
        try await storage.insertCost(first, event: record(first).1)
        let more = try cost("0.000000011", project: "other")
        let fine = try cost("1", currency: Currency("EUR"))
        await #expect {
            try await storage.insertCosts([record(fine), record(more)])
        } throws: { code(of: $0) == .invalidInput }
        #expect(try await storage.cost(fine.costID) == nil)
        #expect(try await storage.costTotals(CostFilter()) == [CostTotal(currency: .usd, amount: big, count: 1)])
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).count == 1)
    }

    @Test("amounts are stored as exact integers of billionths, never floats")
    func moneyColumns() async throws {
        let storage = try await PostgresServer.makeStorage()
        let item = try cost("123456789.123456789")
        try await storage.insertCost(item, event: record(item).1)
        #expect(try await storage.cost(item.costID)?.amount?.description == "123456789.123456789")
        let types = try await storage.withRawTransaction { connection in
            try connection.query(
                """
                SELECT data_type FROM information_schema.columns
                WHERE table_name IN ('costs', 'cost_rollups') AND column_name LIKE '%units%' ORDER BY column_name
                """
            ).map { try $0.decode(String.self) }
        }
        #expect(!types.isEmpty && types.allSatisfy { $0 == "bigint" })
    }

    // MARK: - Events

    @Test("the event log reads in order, by entity, after a sequence and up to a limit")
    func eventLog() async throws {
        let storage = try await PostgresServer.makeStorage()
        let first = try await makeWorker(storage)
        try await makeWorker(storage)
        try await storage.append(event(.worker, first.workerID.description, from: nil, to: nil, reason: "a note"))
        let all = try await storage.events(entityID: nil, after: 0, limit: nil)
        #expect(all.count == 3)
        #expect(all.map(\.sequence) == all.map(\.sequence).sorted() && Set(all.map(\.sequence)).count == 3)
        #expect(
            try await storage.events(entityID: first.workerID.description, after: 0, limit: nil).map(\.reason) == [
                nil, "a note",
            ])
        #expect(
            try await storage.events(entityID: nil, after: all[0].sequence, limit: nil).map(\.sequence) == [
                all[1].sequence, all[2].sequence,
            ])
        #expect(try await storage.events(entityID: nil, after: 0, limit: 1).map(\.sequence) == [all[0].sequence])
        #expect(try await storage.events(entityID: nil, after: all[2].sequence, limit: nil).isEmpty)
    }

    @Test("reading the log inside a write sees the unit's own events, in order")
    func eventsInsideUnit() async throws {
        let storage = try await PostgresServer.makeStorage()
        let id = try await makeWorker(storage).workerID.description
        let seen = try await storage.write { tx in
            try tx.append(event(.worker, id, from: nil, to: nil, reason: "one"))
            try tx.append(event(.worker, id, from: nil, to: nil, reason: "two"))
            return try tx.events(entityID: id, after: 0, limit: nil).map(\.reason)
        }
        #expect(seen == [nil, "one", "two"])
    }

    @Test("the database refuses to update, delete or truncate events, and to update costs or diffs")
    func appendOnlyEnforced() async throws {
        let storage = try await PostgresServer.makeStorage()
        try await makeWorker(storage)
        let item = try cost("1")
        try await storage.insertCost(item, event: record(item).1)
        try await storage.insertPatch(
            PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now),
            event: event(.patch, "x", from: nil, to: "created"), source: PatchSource(bytes: [1, 2, 3]))
        for statement in [
            "UPDATE events SET reason = 'rewritten'", "DELETE FROM events", "TRUNCATE events",
            "UPDATE costs SET amount_units = 0", "UPDATE patch_contents SET size = 0", "DELETE FROM patch_contents",
        ] {
            await #expect("\(statement) is refused") {
                try await storage.withRawTransaction { connection in _ = try connection.execute(statement) }
            } throws: { error in
                code(of: error) == .storage
                    && ["append-only", "immutable"].contains { (error as? SluiceError)?.message.contains($0) == true }
            }
        }
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).count == 3)
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).allSatisfy { $0.reason != "rewritten" })
    }

    @Test(
        "CHECK constraints mirror the enums and formats",
        arguments: [
            "INSERT INTO workers (worker_id, worker_type, state, started_at, last_heartbeat, lease_renewed_at, max_parallel_tasks, heartbeat_interval, timeout_seconds) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'executor', 'flying', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', now(), 1, 1, 1)",
            "INSERT INTO workers (worker_id, worker_type, state, started_at, last_heartbeat, lease_renewed_at, max_parallel_tasks, heartbeat_interval, timeout_seconds) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'robot', 'idle', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', now(), 1, 1, 1)",
            "INSERT INTO workers (worker_id, worker_type, state, started_at, last_heartbeat, lease_renewed_at, max_parallel_tasks, heartbeat_interval, timeout_seconds) VALUES ('not-a-ulid', 'executor', 'idle', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', now(), 1, 1, 1)",
            "INSERT INTO workers (worker_id, worker_type, state, started_at, last_heartbeat, lease_renewed_at, max_parallel_tasks, heartbeat_interval, timeout_seconds) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'executor', 'idle', 'yesterday', '2026-01-01T00:00:00.000Z', now(), 1, 1, 1)",
            "INSERT INTO costs (cost_id, resource_type, amount_units, currency, recorded_at) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'api_call', -1, 'USD', '2026-01-01T00:00:00.000Z')",
            "INSERT INTO costs (cost_id, resource_type, amount_units, currency, recorded_at) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'api_call', 1, 'usd', '2026-01-01T00:00:00.000Z')",
            "INSERT INTO events (entity_kind, entity_id, at, actor) VALUES ('planet', 'x', '2026-01-01T00:00:00.000Z', 't')",
            "INSERT INTO test_gates (gate_id, name, gate_type, state, criteria, created_at, updated_at) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', 'g', 'lint', 'done', '{}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
            "INSERT INTO patch_ledger (ledger_id, patch_id, project_id, state, created_at, updated_at) VALUES ('01JAAAAAAAAAAAAAAAAAAAAAAA', '01JBBBBBBBBBBBBBBBBBBBBBBB', 'p', 'merged', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
        ])
    func checks(statement: String) async throws {
        let storage = try await PostgresServer.makeStorage()
        await #expect {
            try await storage.withRawTransaction { connection in _ = try connection.execute(statement) }
        } throws: { error in
            code(of: error) == .storage
                && (error as? SluiceError)?.message.contains("violates check constraint") == true
        }
    }
}
