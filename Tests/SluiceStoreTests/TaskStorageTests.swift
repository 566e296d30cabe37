import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

/// The task queue's storage contract, on every backend: round trips, the claim order, claims that
/// never take one task twice, and a compare-and-set on the state and the epoch.
@Suite("Task storage")
struct TaskStorageTests {
    let now = Timestamp(milliseconds: 1_767_225_600_000)

    func event(_ id: TaskID, from: String?, to: String?) -> Event {
        Event(
            entityKind: .task, entityID: id.description, fromState: from, toState: to, reason: nil, at: now, actor: "t")
    }

    @discardableResult
    func add(
        _ storage: any Storage, priority: Int = 0, project: String = "p", age: Int64 = 0, prompt: String = "do it"
    ) async throws -> TaskRecord {
        let task = TaskRecord(
            taskID: .make(),
            request: TaskRequest(
                prompt: prompt, projectID: project, workstreamID: "ws", executionRequestID: .make(), priority: priority,
                agent: "claude", metadata: ["k": .string("v")]),
            at: now.adding(milliseconds: age))
        try await storage.insertTask(task, event: event(task.taskID, from: nil, to: "queued"))
        return task
    }

    /// Claims the next task in one unit, as the task service does.
    func claim(_ storage: any Storage, worker: WorkerID = .make(), project: String? = nil) async throws -> TaskRecord? {
        let now = self.now
        return try await storage.write { tx in
            guard let next = try tx.nextTaskToClaim(projectID: project, agent: nil) else { return nil }
            return try tx.updateTask(next.taskID) { current in
                let claimed = try current.applying(.claim(workerID: worker, epoch: current.epoch + 1), at: now)
                return (claimed, self.event(current.taskID, from: "queued", to: "running"))
            }
        }
    }

    @Test("a task round-trips, crashes, metadata and text included", arguments: StoreKind.allCases)
    func roundTrip(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let task = try await add(storage, prompt: "fix \"it\" — ünïcode\\path\nline two")
        await #expect(try storage.task(task.taskID) == task)
        let claimed = try #require(try await claim(storage))
        let requeued = try await storage.updateTask(task.taskID) { current in
            (
                try current.applying(.requeue(epoch: 1, reason: "lease expired"), at: self.now),
                self.event(task.taskID, from: "running", to: "queued")
            )
        }
        #expect(claimed.epoch == 1 && requeued.crashes.count == 1)
        await #expect(try storage.task(task.taskID) == requeued)
        await #expect(try storage.task(.make()) == nil)
        let events = try await storage.events(entityID: task.taskID.description, after: 0, limit: nil)
        #expect(events.map(\.toState) == ["queued", "running", "queued"])
        #expect(events.allSatisfy { $0.entityKind == .task })
    }

    @Test("claims go by priority, then age, within the project asked for", arguments: StoreKind.allCases)
    func claimOrder(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let old = try await add(storage, age: 0)
        let urgent = try await add(storage, priority: 10, age: 2)
        let young = try await add(storage, age: 1)
        let other = try await add(storage, priority: 100, project: "q", age: 3)
        var order: [TaskID] = []
        while let task = try await claim(storage, project: "p") { order.append(task.taskID) }
        #expect(order == [urgent.taskID, old.taskID, young.taskID])
        #expect(try await claim(storage)?.taskID == other.taskID)
        #expect(try await claim(storage) == nil)
        await #expect(try storage.tasks(TaskFilter(state: .running)).count == 4)
        await #expect(try storage.tasks(TaskFilter(projectID: "q")).map(\.taskID) == [other.taskID])
        await #expect(try storage.tasks(TaskFilter(limit: 2)).count == 2)
    }

    @Test("8 claimers at once take each of 40 tasks exactly once", arguments: StoreKind.allCases)
    func concurrentClaims(kind: StoreKind) async throws {
        let storage = try await kind.make()
        for index in 0..<40 { try await add(storage, priority: index % 3, age: Int64(index)) }
        let claimed = try await withThrowingTaskGroup(of: [TaskID].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let worker = WorkerID.make()
                    var mine: [TaskID] = []
                    while true {
                        do {
                            guard let task = try await self.claim(storage, worker: worker) else { break }
                            mine.append(task.taskID)
                        } catch let error as SluiceError where error.code == .lostRace {
                            continue  // another claimer took it between the pick and the update
                        }
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 40 && Set(claimed).count == 40)
        let tasks = try await storage.tasks(TaskFilter())
        #expect(tasks.allSatisfy { $0.state == .running && $0.epoch == 1 && $0.attempts == 1 })
        let events = try await storage.events(entityID: nil, after: 0, limit: nil)
        #expect(events.filter { $0.toState == "running" }.count == 40)
    }

    @Test("an update based on a stale read of the epoch loses, and writes nothing", arguments: StoreKind.allCases)
    func staleEpochLoses(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let task = try await add(storage)
        _ = try #require(try await claim(storage))
        let first = try await storage.task(task.taskID)
        // The claim is taken over: requeued and claimed again, back to running under epoch 2.
        _ = try await storage.updateTask(task.taskID) { current in
            (
                try current.applying(.requeue(epoch: 1, reason: "lease expired"), at: self.now),
                self.event(task.taskID, from: "running", to: "queued")
            )
        }
        _ = try #require(try await claim(storage))
        // A writer that read epoch 1 reports under it: refused by the record's own check.
        await #expect {
            try await storage.updateTask(task.taskID) { current in
                (
                    try current.applying(.complete(epoch: first?.epoch ?? 0, ledgerID: nil), at: self.now),
                    self.event(task.taskID, from: "running", to: "done")
                )
            }
        } throws: { ($0 as? SluiceError)?.code == .lostRace }
        let now = try await storage.task(task.taskID)
        #expect(now?.state == .running && now?.epoch == 2)
    }

    @Test("the database refuses a running task without a worker", arguments: StoreKind.allCases)
    func databaseChecks(kind: StoreKind) async throws {
        let storage = try await kind.make()
        let task = try await add(storage)
        await #expect(throws: SluiceError.self) {
            try await storage.updateTask(task.taskID) { current in
                var broken = current
                broken.state = .running
                return (broken, self.event(task.taskID, from: "queued", to: "running"))
            }
        }
        await #expect(try storage.task(task.taskID)?.state == .queued)
    }
}
