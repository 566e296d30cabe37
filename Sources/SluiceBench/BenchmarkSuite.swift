import Foundation
import GRDB
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore

/// One measurement, printed as one JSON line: `{"name", "value", "unit", …detail}`; or a benchmark
/// that could not run, printed as `{"name", "skipped": reason, …detail}`.
public struct BenchmarkResult: Sendable {
    public var name: String
    public var value: Double
    public var unit: String
    public var detail: [String: JSONValue]
    /// Why the benchmark did not run; nil when it did.
    public var skipped: String?

    public init(name: String, value: Double, unit: String, detail: [String: JSONValue] = [:]) {
        self.name = name
        self.value = value
        self.unit = unit
        self.detail = detail
    }

    /// A benchmark that could not run here, and why.
    public static func skipped(_ name: String, reason: String, detail: [String: JSONValue] = [:]) -> BenchmarkResult {
        var result = BenchmarkResult(name: name, value: 0, unit: "", detail: detail)
        result.skipped = reason
        return result
    }

    /// The JSON line.
    public var jsonLine: String {
        var object = detail
        object["name"] = .string(name)
        if let skipped {
            object["skipped"] = .string(skipped)
            return JSONValue.object(object).jsonText
        }
        object["value"] = .number(Decimal(string: String(format: "%.3f", value)) ?? 0)
        object["unit"] = .string(unit)
        return JSONValue.object(object).jsonText
    }
}

/// The benchmarks of issue 2, all measured in one run on one machine.
public struct BenchmarkSuite: Sendable {
    /// How much work each benchmark does.
    public struct Sizes: Sendable {
        public var baselineCommits: Int
        public var durableLifecycles: Int
        public var memoryLifecycles: Int
        public var workerCycles: Int
        public var costRecords: Int
        public var costBatch: Int
        public var diffMegabytes: Int = 50
        public var junitCases: Int = 100_000
        public var pipelinePatches: Int = 50
        public var repositoryFiles: Int = 1000
        /// Transactions of `postgres_commit_baseline`, shared by its 16 connections.
        public var postgresCommits: Int = 8_000
        /// Lifecycles of `postgres_transitions`, shared by its 16 tasks.
        public var postgresLifecycles: Int = 800
        /// Lifecycles each `events_follow_lag` follows, shared by its 16 writing tasks.
        public var followLifecycles: Int = 800
        /// Seconds `supervisor_overhead` measures its 16 idle agents.
        public var overheadSeconds: Double = 60
        /// Patches `merge_queue` lands (a tenth of them culprits), and how long its gate takes.
        public var mergeQueuePatches: Int = 40
        public var mergeQueueGateSeconds: Double = 0.5

        /// The full run.
        public static let full = Sizes(
            baselineCommits: 2_000, durableLifecycles: 400, memoryLifecycles: 20_000, workerCycles: 1_000,
            costRecords: 1_000_000, costBatch: 10_000)
        /// A small run for CI.
        public static let quick = Sizes(
            baselineCommits: 100, durableLifecycles: 20, memoryLifecycles: 500, workerCycles: 50, costRecords: 20_000,
            costBatch: 5_000, diffMegabytes: 5, junitCases: 10_000, pipelinePatches: 5, repositoryFiles: 200,
            postgresCommits: 320, postgresLifecycles: 64, followLifecycles: 64, overheadSeconds: 10,
            mergeQueuePatches: 20, mergeQueueGateSeconds: 0.2)
        /// A tiny run for tests.
        public static let tiny = Sizes(
            baselineCommits: 5, durableLifecycles: 2, memoryLifecycles: 5, workerCycles: 3, costRecords: 30,
            costBatch: 10, diffMegabytes: 1, junitCases: 200, pipelinePatches: 2, repositoryFiles: 10,
            postgresCommits: 32, postgresLifecycles: 16, followLifecycles: 16, overheadSeconds: 1,
            mergeQueuePatches: 10, mergeQueueGateSeconds: 0.01)
    }

    /// The PostgreSQL server of the `postgres` and `follow` groups.
    public enum PostgresServer: Sendable, Equatable {
        /// A throwaway server the suite starts (initdb + pg_ctl on a free loopback port) with a real
        /// server's durable defaults, and stops and deletes afterwards; where PostgreSQL's programs
        /// are missing, those benchmarks are reported as skipped, with the reason.
        case throwaway
        /// An existing server's database, `postgres://user@host:port/db` (`--db`): it gets Sluice's
        /// schema and the benchmarks' rows.
        case existing(url: String)
    }

    let sizes: Sizes
    let directory: String
    let postgres: PostgresServer

    /// Creates the suite; SQLite databases go under `directory`.
    public init(sizes: Sizes, directory: String, postgres: PostgresServer = .throwaway) {
        self.sizes = sizes
        self.directory = directory
        self.postgres = postgres
    }

    /// The benchmark groups, by the name `--only` takes.
    public static let groups = [
        "baseline", "patches", "patches-durable", "patches-memory", "workers", "costs", "parsers", "pipeline",
        "postgres", "follow", "agents", "budgets", "merge-queue",
    ]

    /// Runs the benchmarks in order (only the named groups, when given), handing each result to
    /// `emit` as soon as it is measured.
    public func run(only: Set<String>? = nil, emit: (BenchmarkResult) -> Void) async throws {
        func wanted(_ group: String) -> Bool { only?.contains(group) ?? true }
        var baseline: Double?
        if wanted("baseline") || wanted("patches") || wanted("patches-durable") || wanted("agents")
            || wanted("budgets")
        {
            let result = try commitBaseline()
            baseline = result.value
            emit(result)
        }
        if wanted("patches") || wanted("patches-durable") {
            await emit(try patchTransitions(durable: true, baseline: baseline, floor: nil))
        }
        if wanted("agents") {
            let commits = try baseline ?? commitBaseline().value
            emit(
                try await taskClaims(
                    on: try SQLiteStorage(path: path("claims.db")), database: "file, synchronous=FULL",
                    baselineName: "sqlite_commit_baseline", baseline: commits, ratio: "0.8"))
            emit(try await agentStartLatency())
            emit(try await supervisorOverhead(seconds: sizes.overheadSeconds))
        }
        if wanted("budgets") {
            let commits = try baseline ?? commitBaseline().value
            emit(
                try await budgetReservations(
                    on: try SQLiteStorage(path: path("budgets.db")), database: "file, synchronous=FULL",
                    baselineName: "sqlite_commit_baseline", baseline: commits, ratio: "0.5"))
        }
        if wanted("patches") || wanted("patches-memory") {
            let floor = try transitionFloor()
            emit(floor)
            await emit(try patchTransitions(durable: false, baseline: nil, floor: floor.value))
        }
        if wanted("workers") { await emit(try workerCycles()) }
        if wanted("costs") { for result in try await costs() { emit(result) } }
        if wanted("parsers") {
            emit(try diffParse())
            emit(try junitParse())
        }
        if wanted("pipeline") {
            let floor = try await gitFloor()
            emit(floor)
            emit(try await pipelineOverhead(floor: floor.value))
        }
        if wanted("merge-queue") { emit(try await mergeQueue()) }
        if wanted("follow") { emit(try await followLagSQLite()) }
        if wanted("postgres") || wanted("follow") { try await runPostgres(wanted, emit: emit) }
    }

    /// The PostgreSQL benchmarks, on the server ``postgres`` names; skipped, with the reason, when
    /// there is no server to be had.
    private func runPostgres(_ wanted: (String) -> Bool, emit: (BenchmarkResult) -> Void) async throws {
        switch try await BenchmarkPostgres.open(postgres) {
        case .failure(let skipped):
            if wanted("postgres") {
                emit(.skipped("postgres_commit_baseline", reason: skipped.reason))
                emit(.skipped("postgres_transitions", reason: skipped.reason))
                emit(.skipped("task_claims_postgres", reason: skipped.reason))
                emit(.skipped("budget_reservations_postgres", reason: skipped.reason))
            }
            if wanted("follow") {
                emit(.skipped("events_follow_lag", reason: skipped.reason, detail: ["database": .string("postgresql")]))
            }
        case .success(let server):
            do {
                if wanted("postgres") {
                    let baseline = try await postgresCommitBaseline(server)
                    emit(baseline)
                    emit(try await postgresTransitions(server, baseline: baseline.value))
                    let claims = try await PostgresStorage(
                        url: try server.makeDatabase(), options: PostgresStorage.Options(poolSize: Self.writers))
                    do {
                        emit(
                            try await taskClaims(
                                on: claims, database: "postgresql", baselineName: "postgres_commit_baseline",
                                baseline: baseline.value, ratio: "0.5", detail: server.detail))
                    } catch {
                        await claims.close()
                        throw error
                    }
                    await claims.close()
                    let budgets = try await PostgresStorage(
                        url: try server.makeDatabase(), options: PostgresStorage.Options(poolSize: Self.writers))
                    do {
                        emit(
                            try await budgetReservations(
                                on: budgets, database: "postgresql", baselineName: "postgres_commit_baseline",
                                baseline: baseline.value, ratio: "0.3", detail: server.detail))
                    } catch {
                        await budgets.close()
                        throw error
                    }
                    await budgets.close()
                }
                if wanted("follow") { emit(try await followLagPostgres(server)) }
            } catch {
                server.stop()
                throw error
            }
            server.stop()
        }
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        return try clock.measure(body).inSeconds
    }

    func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).inSeconds
    }

    func path(_ name: String) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        return path
    }

    /// One small INSERT per transaction, with the storage's own connection settings.
    func commitBaseline() throws -> BenchmarkResult {
        let queue = try SQLiteStorage.openConnection(path: path("baseline.db"))
        try queue.write { try $0.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)") }
        let count = sizes.baselineCommits
        let elapsed = try seconds {
            for index in 0..<count {
                try queue.writeWithoutTransaction { db in
                    try db.inTransaction(.immediate) {
                        try db.cachedStatement(sql: "INSERT INTO t (v) VALUES (?)").execute(arguments: ["row \(index)"])
                        return .commit
                    }
                }
            }
        }
        return BenchmarkResult(
            name: "sqlite_commit_baseline", value: Double(count) / elapsed, unit: "commits/s",
            detail: [
                "commits": .number(Decimal(count)), "synchronous": .string("FULL"), "journal_mode": .string("wal"),
            ])
    }

    /// A transition's SQL alone on an in-memory database: the same statements and binds as
    /// `patch_transitions_memory`, with fixed values and nothing decoded — the physical limit of
    /// a transition on this machine, as the commit baseline is for a durable one.
    func transitionFloor() throws -> BenchmarkResult {
        let storage = try SQLiteStorage(inMemory: .init())
        var transitions = 0
        let elapsed = try seconds { transitions = try storage.runTransitionFloor(lifecycles: sizes.memoryLifecycles) }
        return BenchmarkResult(
            name: "sqlite_transition_floor_memory", value: Double(transitions) / elapsed, unit: "transitions/s",
            detail: ["lifecycles": .number(Decimal(sizes.memoryLifecycles)), "database": .string("memory")])
    }

    /// Full patch lifecycles: create → validate → queue → apply → verify → commit (six writes each).
    func patchTransitions(durable: Bool, baseline: Double?, floor: Double?) async throws -> BenchmarkResult {
        let storage = durable ? try SQLiteStorage(path: path("patches.db")) : try SQLiteStorage(inMemory: .init())
        let patches = Engine(EngineContext(storage: storage, actor: "bench")).patches
        let count = durable ? sizes.durableLifecycles : sizes.memoryLifecycles
        let elapsed = try await seconds {
            for _ in 0..<count {
                let id = try await patches.create(project: "bench").ledgerID
                try await patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
                try await patches.queue(id)
                try await patches.applied(id, workspace: "/tmp/ws", files: ["a.swift"])
                try await patches.verify(id, passed: true)
                try await patches.commit(id)
            }
        }
        let rate = Double(count * 6) / elapsed
        var detail: [String: JSONValue] = [
            "lifecycles": .number(Decimal(count)), "writes_per_lifecycle": .number(6),
            "database": .string(durable ? "file, synchronous=FULL" : "memory"),
        ]
        if let baseline, baseline > 0 {
            detail["ratio_to_baseline"] = .number(Decimal(string: String(format: "%.3f", rate / baseline)) ?? 0)
            detail["target"] = .string(">= 0.8 x sqlite_commit_baseline")
        } else {
            detail["target"] = .string(">= 0.6 x sqlite_transition_floor_memory")
        }
        if let floor, floor > 0 {
            detail["ratio_to_floor"] = .number(Decimal(string: String(format: "%.3f", rate / floor)) ?? 0)
        }
        return BenchmarkResult(
            name: durable ? "patch_transitions_durable" : "patch_transitions_memory", value: rate,
            unit: "transitions/s",
            detail: detail)
    }

    /// assign → heartbeat → complete on a file database with the default settings.
    func workerCycles() async throws -> BenchmarkResult {
        let storage = try SQLiteStorage(path: path("workers.db"))
        let workers = Engine(EngineContext(storage: storage, actor: "bench")).workers
        let id = try await workers.create(type: .executor).workerID
        let count = sizes.workerCycles
        let elapsed = try await seconds {
            for index in 0..<count {
                try await workers.assign(id, task: "t\(index)")
                try await workers.heartbeat(id)
                try await workers.complete(id, success: true, executionSeconds: 0.5)
            }
        }
        return BenchmarkResult(
            name: "worker_cycles", value: Double(count * 3) / elapsed, unit: "operations/s",
            detail: ["cycles": .number(Decimal(count)), "database": .string("file, synchronous=FULL")])
    }

    /// Loads cost records in batches, then times a total and a breakdown over all of them.
    func costs() async throws -> [BenchmarkResult] {
        let storage = try SQLiteStorage(path: path("costs.db"))
        let engine = Engine(EngineContext(storage: storage, actor: "bench"))
        let types = ResourceType.allCases
        let rate = try ExactDecimal(parsing: "0.000003")
        let now = SystemClock().now()
        var loaded = 0
        let elapsed = try await seconds {
            while loaded < sizes.costRecords {
                let batch = min(sizes.costBatch, sizes.costRecords - loaded)
                let records = try (0..<batch).map { offset -> CostRecord in
                    let index = loaded + offset
                    let quantity = ExactDecimal(units: Int64(index % 5000 + 1) * ExactDecimal.unitsPerOne)
                    return try CostRecord(
                        costID: .make(), projectID: "project-\(index % 10)", resourceType: types[index % types.count],
                        resourceName: "model-\(index % 8)", amount: quantity.multiplied(by: rate), currency: .usd,
                        usage: CostUsage(quantity: quantity, unit: "tokens", rate: rate),
                        // Spread over 90 days, as a quarter of work would be.
                        recordedAt: now.adding(milliseconds: -Int64(index % 90) * 86_400_000))
                }
                try await engine.costs.importRecords(records)
                loaded += batch
            }
        }
        var totals: [CostTotal] = []
        let totalSeconds = try await seconds { totals = try await engine.costs.total(CostFilter(currency: .usd)) }
        var rows: [CostBreakdownRow] = []
        let breakdownSeconds = try await seconds { rows = try await engine.costs.breakdown(CostFilter(currency: .usd)) }
        var report: CostReport?
        let reportSeconds = try await seconds { report = try await engine.costs.report(by: .model) }
        let reported = report?.rows.reduce(0) { $0 + $1.records } ?? 0
        let count = totals.first?.count ?? 0
        guard count == sizes.costRecords, rows.reduce(0, { $0 + $1.count }) == sizes.costRecords,
            reported == sizes.costRecords, report?.rows.count == 8
        else {
            throw SluiceError(
                code: .storage, message: "the cost totals count \(count) records, expected \(sizes.costRecords)")
        }
        let total = totals.first.map { JSONValue.string($0.amount.description) } ?? .null
        return [
            BenchmarkResult(
                name: "cost_insert", value: Double(loaded) / elapsed, unit: "records/s",
                detail: ["records": .number(Decimal(loaded)), "batch": .number(Decimal(sizes.costBatch))]),
            BenchmarkResult(
                name: "cost_total_\(label)", value: totalSeconds * 1000, unit: "ms",
                detail: ["records": .number(Decimal(count)), "total": total, "target": .string("<= 10 ms")]),
            BenchmarkResult(
                name: "cost_breakdown_\(label)", value: breakdownSeconds * 1000, unit: "ms",
                detail: [
                    "records": .number(Decimal(count)), "rows": .number(Decimal(rows.count)),
                    "target": .string("<= 10 ms"),
                ]),
            BenchmarkResult(
                name: "cost_report_\(label)", value: reportSeconds * 1000, unit: "ms",
                detail: [
                    "records": .number(Decimal(reported)), "by": .string("model"),
                    "rows": .number(Decimal(report?.rows.count ?? 0)), "days": .number(90),
                    "target": .string("<= 50 ms"),
                ]),
        ]
    }

    /// "1m" for the full run, else the record count.
    var label: String { sizes.costRecords == 1_000_000 ? "1m" : "\(sizes.costRecords)" }
}
