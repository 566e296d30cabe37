import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

/// Races on a real database file, each contender with its own connection, as separate processes would have.
@Suite("Concurrency on a real database file")
struct ConcurrencyTests {
    /// Runs `body(index)` in `count` concurrent tasks; returns each result. Each contender has its own
    /// storage, so the units of work run on separate connections and their own queues.
    func race<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async -> T) async -> [T] {
        await withTaskGroup(of: (Int, T).self) { group in
            for index in 0..<count {
                group.addTask { (index, await body(index)) }
            }
            var results: [Int: T] = [:]
            for await (index, value) in group { results[index] = value }
            return (0..<count).map { results[$0]! }
        }
    }

    func openEngines(_ path: String, count: Int) throws -> [Engine] {
        try (0..<count).map { index in
            makeEngine(over: try SQLiteStorage(path: path), actor: "contender-\(index)")
        }
    }

    @Test("16 contenders race one patch transition: exactly one wins, the rest get the typed error")
    func patchRace() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("race.db")
        let setup = makeEngine(over: try SQLiteStorage(path: path))
        let id = try await setup.patches.create(project: "p").ledgerID
        try await setup.patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
        let engines = try openEngines(path, count: 16)

        let outcomes = await race(16) { index -> Result<PatchState, SluiceError> in
            do {
                return .success(try await engines[index].patches.queue(id).state)
            } catch let error as SluiceError {
                return .failure(error)
            } catch {
                return .failure(SluiceError(code: .storage, message: "\(error)"))
            }
        }
        let winners = outcomes.filter { if case .success = $0 { true } else { false } }
        let losers = outcomes.compactMap { if case .failure(let error) = $0 { error } else { nil } }
        #expect(winners.count == 1)
        #expect(losers.count == 15)
        for error in losers {
            #expect(error.code == .invalidTransition || error.code == .lostRace, "\(error.message)")
            #expect(error.currentState == "queued")
        }
        let queuedEvents = try await setup.events(entityID: id.description).filter { $0.toState == "queued" }
        #expect(queuedEvents.count == 1)
        await #expect(try setup.patches.get(id).stateHistory.map(\.state) == [.created, .validated, .queued])
    }

    @Test("16 contenders race to assign one idle worker: one task wins")
    func workerRace() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("race.db")
        let setup = makeEngine(over: try SQLiteStorage(path: path))
        let id = try await setup.workers.create(type: .executor).workerID
        let engines = try openEngines(path, count: 16)
        let outcomes = await race(16) { index -> String? in
            (try? await engines[index].workers.assign(id, task: "task-\(index)"))?.currentTaskID
        }
        let winners = outcomes.compactMap { $0 }
        #expect(winners.count == 1)
        await #expect(try setup.workers.get(id).currentTaskID == winners.first)
        await #expect(try setup.events(entityID: id.description).filter { $0.toState == "busy" }.count == 1)
    }

    @Test("8 workers completing 100 tasks each concurrently leave statistics that add up exactly")
    func statisticsAddUp() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("stats.db")
        let setup = makeEngine(over: try SQLiteStorage(path: path))
        var created: [WorkerID] = []
        for _ in 0..<8 { created.append(try await setup.workers.create(type: .executor).workerID) }
        let ids = created
        let engines = try openEngines(path, count: 8)
        let failures = await race(8) { index -> Int in
            var failures = 0
            let workers = engines[index].workers
            for task in 0..<100 {
                do {
                    try await workers.assign(ids[index], task: "w\(index)-t\(task)")
                    try await workers.complete(ids[index], success: task % 4 != 0, executionSeconds: 0.25)
                } catch {
                    failures += 1
                }
            }
            return failures
        }
        #expect(failures == Array(repeating: 0, count: 8))
        var completed = 0
        var failed = 0
        var seconds = 0.0
        for id in ids {
            let worker = try await setup.workers.get(id)
            #expect(worker.state == .idle && worker.currentTaskID == nil)
            #expect(worker.statistics.tasksCompleted == 75)
            #expect(worker.statistics.tasksFailed == 25)
            #expect(worker.statistics.totalExecutionTime == 25)
            completed += worker.statistics.tasksCompleted
            failed += worker.statistics.tasksFailed
            seconds += worker.statistics.totalExecutionTime
        }
        #expect(completed + failed == 800)
        #expect(seconds == 200)
        await #expect(try setup.events().count == 8 + 8 * 200)
    }

    @Test("concurrent cost records keep exact totals")
    func costTotals() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("costs.db")
        let engines = try openEngines(path, count: 4)
        let tenth = try ExactDecimal(parsing: "0.1")
        _ = await race(4) { index in
            for _ in 0..<50 { _ = try? await engines[index].costs.record(type: .apiCall, amount: tenth, project: "p") }
            return 0
        }
        await #expect(
            try engines[0].costs.total(CostFilter(projectID: "p")) == [
                CostTotal(currency: .usd, amount: try ExactDecimal(parsing: "20"), count: 200)
            ])
    }
}
