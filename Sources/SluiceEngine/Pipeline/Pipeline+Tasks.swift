import Foundation
import SluiceCore
import SluiceStore

/// One attempt of a task of the queue: who holds it, under which epoch.
public struct TaskAttempt: Hashable, Sendable {
    public var taskID: TaskID
    public var epoch: Int64
    public var workerID: WorkerID
    /// The attempt's number (the task's claims so far).
    public var attempt: Int

    public init(taskID: TaskID, epoch: Int64, workerID: WorkerID, attempt: Int) {
        self.taskID = taskID
        self.epoch = epoch
        self.workerID = workerID
        self.attempt = attempt
    }

    /// What the patch's creation event records about where it came from.
    var origin: [String: JSONValue] {
        [
            "task_id": .string(taskID.description), "worker_id": .string(workerID.description),
            "epoch": .number(Decimal(epoch)), "attempt": .number(Decimal(attempt)),
        ]
    }
}

extension Pipeline {
    /// Submits the diff an agent produced on a task: the patch is stored, the task done with it, its
    /// worker freed with the task counted, and the attempt's `costs` stored, in one unit of work that
    /// holds only while `attempt`'s claim stands. A patch under a stale epoch (a "zombie" whose claim
    /// was taken over) is refused, logged, and never stored, so it can never land. The patch is then
    /// validated and queued like any other.
    ///
    /// - Parameter configuration: the target branch's configuration and head, when the caller has
    ///   read them already; else they are read here.
    /// - Throws: `lostRace` for a stale claim; `invalidInput` for an empty or oversized diff or an
    ///   unreadable configuration (nothing is stored: the caller fails the task with the reason).
    public func submit(
        _ bytes: [UInt8], _ submission: Submission, for attempt: TaskAttempt, costs: [CostRecord] = [],
        configuration: (SluiceConfig, String)? = nil
    ) async throws -> (patch: PatchLedgerEntry, task: TaskRecord) {
        guard !bytes.isEmpty else { throw SluiceError.invalidInput("the diff is empty") }
        let (config, head) = try await self.configuration(given: configuration)
        try Pipeline.checkSize(bytes.count, config)
        let (entry, create) = try engine.patches.creating(
            project: submission.project, phase: submission.phase, workstream: submission.workstream,
            request: submission.request, relations: submission.relations, source: try await source(bytes, submission),
            origin: attempt.origin)
        let ended = EndedHolds()
        let finish = TaskService.finishing(
            engine.context, attempt.taskID, .complete(epoch: attempt.epoch, ledgerID: entry.ledgerID),
            reason: "patch \(entry.ledgerID)", ended: ended)
        let (insertCosts, commitCosts) = CostService(engine.context).importingInTwo(costs)
        let task: TaskRecord
        do {
            task = try await engine.context.storage.write { tx in
                try TaskService.checkClaim(
                    tx, attempt.taskID, epoch: attempt.epoch, worker: attempt.workerID, operation: "submit a patch for")
                if let task = try tx.task(attempt.taskID), task.projectID != submission.project {
                    throw SluiceError.invalidInput(
                        "task \(attempt.taskID) belongs to project \(task.projectID): its patch goes to that project, "
                            + "not \(submission.project)")
                }
                try create(tx)
                if !costs.isEmpty { try insertCosts(tx) }
                let task = try finish(tx)
                // The budgets' commits last, with the release of the claim's hold: they update the
                // budgets' rows, locked until the commit.
                if !costs.isEmpty { try commitCosts(tx, ended.take()) }
                try BudgetService.release(tx, ended.take())
                return task
            }
        } catch let error as SluiceError where error.code == .lostRace {
            await engine.tasks.logRefusal(attempt.taskID, operation: "patch", epoch: attempt.epoch, error)
            throw error
        }
        let validated = try await validate(entry.ledgerID, hold: submission.hold, configuration: (config, head))
        return (validated, task)
    }
}
