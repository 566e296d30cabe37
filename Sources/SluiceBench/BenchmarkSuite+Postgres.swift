import Foundation
import PostgresNIO
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore
import Synchronization

extension BenchmarkSuite {
    /// How many connections and tasks write at once in the PostgreSQL and follower benchmarks.
    static let writers = 16

    /// `postgres_commit_baseline`: transactions of one single-row UPDATE and one INSERT per second,
    /// from 16 connections at once, through postgres-nio alone: what the server can do.
    func postgresCommitBaseline(_ postgres: BenchmarkPostgres) async throws -> BenchmarkResult {
        let url = try postgres.makeDatabase()
        let logger = BenchmarkPostgres.logger
        let setup = try await BenchmarkPostgres.connect(url, id: 0)
        for sql in [
            "DROP TABLE IF EXISTS sluice_bench_rows, sluice_bench_log",
            "CREATE TABLE sluice_bench_rows (id bigint PRIMARY KEY, n bigint NOT NULL)",
            "CREATE TABLE sluice_bench_log (id bigserial PRIMARY KEY, row_id bigint NOT NULL, at timestamptz NOT NULL)",
            "INSERT INTO sluice_bench_rows SELECT g, 0 FROM generate_series(1, \(Self.writers)) g",
        ] {
            try await setup.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
        var connections: [PostgresConnection] = []
        for index in 1...Self.writers { connections.append(try await BenchmarkPostgres.connect(url, id: index)) }
        let perConnection = max(1, sizes.postgresCommits / Self.writers)
        let elapsed = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, connection) in connections.enumerated() {
                    let row = index + 1
                    group.addTask {
                        for _ in 0..<perConnection {
                            try await connection.query("BEGIN", logger: logger)
                            try await connection.query(
                                "UPDATE sluice_bench_rows SET n = n + 1 WHERE id = \(row)", logger: logger)
                            try await connection.query(
                                "INSERT INTO sluice_bench_log (row_id, at) VALUES (\(row), now())", logger: logger)
                            try await connection.query("COMMIT", logger: logger)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        for connection in connections { try await connection.close() }
        try await setup.query("DROP TABLE sluice_bench_rows, sluice_bench_log", logger: logger)
        try await setup.close()
        let commits = perConnection * Self.writers
        return BenchmarkResult(
            name: "postgres_commit_baseline", value: Double(commits) / elapsed, unit: "commits/s",
            detail: postgres.detail.merging([
                "commits": .number(Decimal(commits)), "connections": .number(Decimal(Self.writers)),
                "transaction": .string("BEGIN; UPDATE one row; INSERT one row; COMMIT (postgres-nio only)"),
            ]) { $1 })
    }

    /// `postgres_transitions`: patch transitions per second through the services on ``PostgresStorage``,
    /// from 16 tasks at once, each on patches of its own.
    func postgresTransitions(_ postgres: BenchmarkPostgres, baseline: Double) async throws -> BenchmarkResult {
        let storage = try await PostgresStorage(
            url: try postgres.makeDatabase(), options: PostgresStorage.Options(poolSize: Self.writers))
        let load: TransitionLoad
        do {
            load = try await runTransitions(on: storage, lifecycles: sizes.postgresLifecycles) { _, _ in }
        } catch {
            await storage.close()
            throw error
        }
        await storage.close()
        let rate = Double(load.transitions) / load.seconds
        return BenchmarkResult(
            name: "postgres_transitions", value: rate, unit: "transitions/s",
            detail: postgres.detail.merging([
                "lifecycles": .number(Decimal(load.transitions / 6)), "writes_per_lifecycle": .number(6),
                "tasks": .number(Decimal(Self.writers)), "pool_size": .number(Decimal(Self.writers)),
                "ratio_to_baseline": .number(Decimal(string: String(format: "%.3f", rate / baseline)) ?? 0),
                "target": .string(">= 0.5 x postgres_commit_baseline"),
            ]) { $1 })
    }

    // MARK: - The transition load

    /// What a run of ``runTransitions(on:lifecycles:committed:)`` did.
    struct TransitionLoad {
        var transitions: Int
        var seconds: Double
    }

    /// Runs patch lifecycles (create → validate → queue → applied → verify → commit, six units of
    /// work each) from 16 tasks at once, each on patches of its own, and calls `committed` with the
    /// patch's id and its new state as soon as each unit has returned.
    func runTransitions(
        on storage: any Storage, lifecycles: Int,
        committed: @escaping @Sendable (_ entityID: String, _ state: String) -> Void
    ) async throws -> TransitionLoad {
        let patches = Engine(EngineContext(storage: storage, actor: "bench")).patches
        let perTask = max(1, lifecycles / Self.writers)
        let elapsed = try await seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<Self.writers {
                    group.addTask {
                        for _ in 0..<perTask {
                            let created = try await patches.create(project: "bench")
                            let id = created.ledgerID
                            committed(id.description, created.state.rawValue)
                            var entry = try await patches.validate(
                                id, formatOK: true, scopeOK: true, constraintsOK: true)
                            committed(id.description, entry.state.rawValue)
                            entry = try await patches.queue(id)
                            committed(id.description, entry.state.rawValue)
                            entry = try await patches.applied(id, workspace: "/tmp/ws", files: ["a.swift"])
                            committed(id.description, entry.state.rawValue)
                            entry = try await patches.verify(id, passed: true)
                            committed(id.description, entry.state.rawValue)
                            entry = try await patches.commit(id)
                            committed(id.description, entry.state.rawValue)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return TransitionLoad(transitions: perTask * Self.writers * 6, seconds: elapsed)
    }
}
