import Foundation
import SluiceCore
import SluicePostgres
import SluiceStore
import SluiceTesting
import Testing

/// Writers racing each other and a follower, on one database with the default pool of 16 connections.
@Suite("PostgreSQL under concurrent writers", .requiresPostgres)
struct PostgresConcurrencyTests {
    @Test("16 tasks racing one transition: exactly one wins, exactly one event, the others name the state")
    func sixteenRacers() async throws {
        let storage = try await PostgresServer.makeStorage(poolSize: 16)
        let entry = try await makePatch(storage)
        let validate = PatchEvent.validate(formatOK: true, scopeOK: true, constraintsOK: true, errors: [])
        let outcomes = try await withThrowingTaskGroup(of: Result<PatchLedgerEntry, SluiceError>.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    do {
                        return .success(try await storage.updatePatch(entry.ledgerID, transition(validate)))
                    } catch let error as SluiceError {
                        return .failure(error)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.compactMap { try? $0.get() }
        let losers = outcomes.compactMap { outcome -> SluiceError? in
            if case .failure(let error) = outcome { return error }
            return nil
        }
        #expect(winners.count == 1)
        #expect(losers.count == 15)
        // A loser either read the state before the winner committed (its compare-and-set fails) or after
        // (the transition is refused): both name the state the patch is in now.
        #expect(
            losers.allSatisfy { [.lostRace, .invalidTransition].contains($0.code) && $0.currentState == "validated" })
        let events = try await storage.events(entityID: entry.ledgerID.description, after: 0, limit: nil)
        #expect(events.map(\.toState) == ["created", "validated"])
        #expect(try await storage.patch(entry.ledgerID)?.stateHistory.map(\.state) == [.created, .validated])
    }

    @Test("a follower reading events(after:) while writers race sees every event exactly once, in order")
    func followerNeverSkips() async throws {
        let storage = try await PostgresServer.makeStorage(poolSize: 16)
        let writers = 12
        let unitsPerWriter = 40
        // Each unit appends 1 to 3 events, so units commit with different numbers of sequence values.
        let expected = (0..<writers).reduce(0) { total, writer in
            total + (0..<unitsPerWriter).reduce(0) { $0 + 1 + ($1 + writer) % 3 }
        }
        let done = Shared(false)
        let follower = Task { () async throws -> [Event] in
            var seen: [Event] = []
            var cursor: Int64 = 0
            var finalPass = false
            while true {
                let batch = try await storage.events(entityID: nil, after: cursor, limit: 25)
                seen += batch
                cursor = batch.last?.sequence ?? cursor
                if batch.isEmpty {
                    if finalPass { return seen }
                    // Once the writers are done, one more empty read proves the log is drained.
                    if done.value { finalPass = true }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for unit in 0..<unitsPerWriter {
                        try await storage.write { tx in
                            for index in 0...((unit + writer) % 3) {
                                try tx.append(event(.worker, "w\(writer)-u\(unit)-e\(index)", from: nil, to: nil))
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        done.value = true
        let followed = try await follower.value
        let sequences = followed.map(\.sequence)
        #expect(followed.count == expected)
        #expect(Set(followed.map(\.entityID)).count == expected)
        #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 })
        // What the follower saw is the whole log, as one reader sees it afterwards.
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.sequence) == sequences)
    }

    @Test("a settled read waits for an event drawn by an open transaction; a later event never shows alone")
    func settledReadWaitsForOpenWriters() async throws {
        // The open transaction is idle for as long as a busy machine takes to run the steps below:
        // the tests' limit on idle transactions (600 s) must not end it first.
        let storage = try await PostgresServer.makeStorage(poolSize: 4)
        let insert = """
            INSERT INTO events (entity_kind, entity_id, at, actor) VALUES ('worker', 'slow', '2026-01-01T00:00:00.000Z', 't')
            """
        let inserted = Shared(false)
        let release = Shared(false)
        // A transaction that inserts an event (drawing seq 1), then stays open until the test lets it commit.
        async let slow: Void = storage.withRawTransaction { connection in
            _ = try connection.execute(insert)
            inserted.value = true
            let deadline = Date().addingTimeInterval(600)
            while !release.value && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        }
        while !inserted.value { try await Task.sleep(for: .milliseconds(2)) }
        // Writers share the log's lock: a later unit draws seq 2 and commits while seq 1 is open.
        try await storage.append(event(.worker, "fast", from: nil, to: nil))
        // A plain snapshot shows the gap: seq 2 without seq 1.
        #expect(
            try await storage.read { try $0.events(entityID: nil, after: 0, limit: nil) }.map(\.entityID) == ["fast"])
        // A settled read (what a follower does) waits until seq 1 is decided.
        let returned = Shared(false)
        let follower = Task { () async throws -> [String] in
            defer { returned.value = true }
            return try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID)
        }
        try await Task.sleep(for: .milliseconds(300))
        // A writer that comes while the settled read waits queues behind it (the read is not starved).
        let appended = Shared(false)
        let later = Task {
            try await storage.append(event(.worker, "later", from: nil, to: nil))
            appended.value = true
        }
        try await Task.sleep(for: .milliseconds(300))
        let returnedEarly = returned.value
        let appendedEarly = appended.value
        release.value = true
        try await slow
        #expect(!returnedEarly)
        #expect(!appendedEarly)
        #expect(try await follower.value == ["slow", "fast"])
        try await later.value
        #expect(
            try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == ["slow", "fast", "later"])
    }

    @Test("a settled read holds the log's lock only inside its own statement: none is left held after it")
    func settledReadLeavesNoLock() async throws {
        let storage = try await PostgresServer.makeStorage(poolSize: 2)
        try await storage.append(event(.worker, "one", from: nil, to: nil))
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == ["one"])
        #expect(try await storage.readSettled { try $0.events(entityID: nil, after: 0, limit: nil) }.count == 1)
        let held = try await storage.withRawTransaction { connection in
            // The log's key, 0x736C756963650001, as pg_locks shows a bigint key: high and low 32 bits.
            try connection.query(
                """
                SELECT count(*)::bigint FROM pg_locks
                WHERE locktype = 'advisory' AND classid = 1936487785 AND objid = 1667563521 AND objsubid = 1
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                """
            ).map {
                try $0.decode(Int64.self)
            }
        }
        #expect(held == [0])
    }

    @Test("a writer stopped inside its transaction after drawing an event is ended by the server, and frees followers")
    func stoppedWriterIsEnded() async throws {
        let storage = try await PostgresServer.makeStorage(poolSize: 4, idleInTransactionTimeout: 1)
        try await storage.append(event(.worker, "before", from: nil, to: nil))
        let drawn = Shared(false)
        let stuckEnded = Shared(false)
        let release = Shared(false)
        defer { release.value = true }
        // A unit whose event is inserted (drawing a number, holding the log's lock in SHARE mode), and
        // whose process then stops answering: its session sits idle in its transaction.
        let stuck = Task {
            defer { stuckEnded.value = true }
            try await storage.write { tx in
                try tx.append(event(.worker, "stuck", from: nil, to: nil))
                _ = try tx.events(entityID: "nobody", after: 0, limit: 1)
                drawn.value = true
                // Asleep until the test has its answer (or 600 s): only the server can end it sooner.
                let deadline = Date().addingTimeInterval(600)
                while !release.value && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            }
        }
        while !drawn.value { try await Task.sleep(for: .milliseconds(5)) }
        // The follower waits for the stuck writer's number to be decided: the server ends that session
        // after a second idle in its transaction, while the writer is still asleep.
        let followed = try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID)
        let followerFirst = !stuckEnded.value
        release.value = true
        #expect(followed == ["before"])
        #expect(followerFirst)
        await #expect(throws: (any Error).self) { try await stuck.value }
        try await storage.append(event(.worker, "after", from: nil, to: nil))
        #expect(try await storage.events(entityID: nil, after: 0, limit: nil).map(\.entityID) == ["before", "after"])
    }
}
