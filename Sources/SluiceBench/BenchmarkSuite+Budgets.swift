import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

extension BenchmarkSuite {
    /// `budget_reservations`: hold + commit pairs per second from 8 concurrent clients on `storage`.
    /// A pair is two units of work: a claim that holds the task's estimate on two hard budgets (global
    /// and the project's, all or none), then the attempt's end with its cost, which commits the cost
    /// to both budgets, uses up the hold and releases the rest. At the end every budget must show
    /// exactly the costs committed and nothing held.
    func budgetReservations(
        on storage: any Storage, database: String, baselineName: String, baseline: Double, ratio: String,
        detail extra: [String: JSONValue] = [:]
    ) async throws -> BenchmarkResult {
        let engine = Engine(EngineContext(storage: storage, actor: "bench"))
        let perClient = max(25, sizes.baselineCommits / Self.claimers / 2)
        let total = perClient * Self.claimers
        let estimate = try CostEstimate(parsing: "0.5")
        let cost = try ExactDecimal(parsing: "0.25")
        try await engine.budgets.set(.global, limit: ExactDecimal(parsing: "1000000"), hard: true)
        try await engine.budgets.set(.project("bench"), limit: ExactDecimal(parsing: "1000000"), hard: true)
        for index in 0..<total {
            _ = try await engine.tasks.add(
                TaskRequest(
                    prompt: "task \(index)", projectID: "bench", executionRequestID: .make(),
                    metadata: [CostEstimate.metadataKey: estimate.json]))
        }
        var workers: [WorkerID] = []
        for _ in 0..<Self.claimers { workers.append(try await engine.workers.create(type: .executor).workerID) }
        var pairs = 0
        let elapsed = try await seconds {
            pairs = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in workers {
                    group.addTask {
                        var done = 0
                        while let task = try await engine.tasks.claim(for: worker) {
                            let record = try CostRecord(
                                costID: .make(), executionRequestID: task.executionRequestID,
                                projectID: task.projectID, resourceType: .apiCall, amount: cost, currency: .usd,
                                recordedAt: engine.context.clock.now(),
                                metadata: [
                                    "task_id": .string(task.taskID.description), "epoch": .number(Decimal(task.epoch)),
                                    "worker_id": .string(worker.description),
                                ])
                            try await engine.tasks.fail(
                                task.taskID, epoch: task.epoch, reason: "bench", costs: [record])
                            done += 1
                        }
                        return done
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        let expected = try cost.multiplied(by: ExactDecimal(parsing: "\(total)"))
        for scope: BudgetScope in [.global, .project("bench")] {
            let (status, _) = try await engine.budgets.show(scope)
            guard pairs == total, status.committed == expected, status.held == .zero else {
                throw SluiceError(
                    code: .storage,
                    message: "budget_reservations: \(pairs) pairs of \(total); \(scope) shows \(status.committed) "
                        + "committed (expected \(expected)) and \(status.held) held")
            }
        }
        let rate = Double(pairs) / elapsed
        return BenchmarkResult(
            name: database == "postgresql" ? "budget_reservations_postgres" : "budget_reservations", value: rate,
            unit: "pairs/s",
            detail: extra.merging([
                "pairs": .number(Decimal(pairs)), "clients": .number(Decimal(Self.claimers)),
                "budgets_per_hold": .number(2), "database": .string(database),
                "pair": .string("a claim holding on 2 hard budgets, then the attempt's end with its cost: 2 units"),
                "ratio_to_baseline": .number(Decimal(string: String(format: "%.3f", rate / baseline)) ?? 0),
                "target": .string(">= \(ratio) x \(baselineName)"),
            ]) { $1 })
    }
}
