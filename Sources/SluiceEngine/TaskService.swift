import Foundation
import SluiceCore
import SluiceStore
import Synchronization

/// The task queue: tasks added by people, claimed by workers under an epoch (a fencing token), and
/// finished, failed, requeued or cancelled. Every report about a running task carries the epoch of
/// its claim, and one carrying another epoch is refused: a worker whose claim was taken over can
/// never finish the task or land its patch.
public struct TaskService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Queues a task.
    ///
    /// - Throws: `invalidInput` for a request out of range (see ``TaskRequest/validated()``).
    @discardableResult
    public func add(_ request: TaskRequest) async throws -> TaskRecord {
        let now = context.clock.now()
        let task = TaskRecord(taskID: TaskID.make(context.ids), request: try request.validated(), at: now)
        try await context.storage.insertTask(
            task,
            event: context.event(
                .task, task.taskID.description, from: nil, to: TaskState.queued.rawValue, at: now,
                payload: ["priority": .number(Decimal(task.priority)), "project_id": .string(task.projectID)]))
        return task
    }

    /// Claims the next queued task (the highest priority, then the oldest) for an idle worker, and
    /// assigns it to the worker (busy), in one unit of work: two claimers never take the same task.
    /// Nil when none is queued.
    ///
    /// - Throws: `notFound` for an unknown worker; `invalidTransition` for one that is not idle.
    /// With `agent`, a task naming another agent is passed over; with `maxRunning`, nothing is claimed
    /// while that many tasks of the next task's project are running (on PostgreSQL, claims made at
    /// the same instant may pass it by the number of claimers).
    ///
    /// The task's estimate (`--estimate`, else `defaultEstimate`) is held on every budget its attempt
    /// counts against, in the claim's unit: all or none (see ``BudgetService``).
    /// - Throws: `blocked` when a hard budget cannot cover the estimate: nothing is claimed or held,
    ///   and the task stays queued with the reason in its events.
    public func claim(
        for worker: WorkerID, projectID: String? = nil, agent: String? = nil, maxRunning: Int? = nil,
        defaultEstimate: CostEstimate? = nil
    ) async throws -> TaskRecord? {
        try await claim(
            for: worker, projectID: projectID, agent: agent, maxRunning: maxRunning, defaultEstimate: defaultEstimate,
            retrying: true)
    }

    private func claim(
        for worker: WorkerID, projectID: String?, agent: String?, maxRunning: Int?, defaultEstimate: CostEstimate?,
        retrying: Bool
    ) async throws -> TaskRecord? {
        // The storages turn what a unit throws into their errors: the refusal is kept aside.
        let refused = RefusalBox()
        do {
            return try await claimUnit(
                for: worker, projectID: projectID, agent: agent, maxRunning: maxRunning,
                defaultEstimate: defaultEstimate, refused: refused)
        } catch {
            let refusals = refused.value.withLock { $0 }
            guard let first = refusals.first else { throw error }
            let context = self.context
            // The refused unit undid its release of the gate holds killed runs left: released here, and
            // if there were any, the claim is tried once more before the refusal is put on record.
            let lapsed = try? await context.storage.write { tx in
                let released =
                    retrying ? try BudgetService.releaseLapsedGateHolds(tx, context, at: context.clock.now()) : 0
                if released == 0 {
                    for refusal in refusals { try TaskService.noteRefusal(tx, context, refusal) }
                }
                return released
            }
            if let lapsed, lapsed > 0 {
                return try await claim(
                    for: worker, projectID: projectID, agent: agent, maxRunning: maxRunning,
                    defaultEstimate: defaultEstimate, retrying: false)
            }
            throw SluiceError(code: .blocked, message: first.message, currentState: TaskState.queued.rawValue)
        }
    }

    /// The most queued tasks a claim passes over because a budget cannot cover them.
    static let budgetLookahead = 64

    /// Keeps a budget's refusal on record in the task's events, once for as long as the reason stands.
    static func noteRefusal(_ tx: any StorageWriter, _ context: EngineContext, _ refusal: BudgetRefusal) throws {
        let last = try tx.events(entityID: refusal.taskID.description, after: 0, limit: nil).last
        guard last?.reason != refusal.message else { return }
        try tx.append(
            context.event(
                .task, refusal.taskID.description, from: nil, to: nil, reason: refusal.message,
                at: context.clock.now(),
                payload: [
                    "operation": .string("budget refused"), "scope": .string(refusal.scope.description),
                    "window": .string(refusal.window),
                ]))
    }

    private func claimUnit(
        for worker: WorkerID, projectID: String?, agent: String?, maxRunning: Int?, defaultEstimate: CostEstimate?,
        refused: RefusalBox
    ) async throws -> TaskRecord? {
        let context = self.context
        return try await context.storage.write { tx in
            // A task a hard budget cannot cover stays queued, and the claim looks further: a task
            // budget spent, or an estimate too large for what is left, does not hold up the others.
            var skipped: [TaskID] = []
            var refusals: [BudgetRefusal] = []
            var candidate: TaskRecord?
            while candidate == nil {
                guard skipped.count < TaskService.budgetLookahead,
                    let next = try tx.nextTaskToClaim(projectID: projectID, agent: agent, skipping: skipped)
                else {
                    if !refusals.isEmpty {
                        refused.value.withLock { $0 = refusals }
                        throw SluiceError(code: .blocked, message: refusals[0].message)
                    }
                    // Nothing to claim; an unknown worker is still an error.
                    if try tx.worker(worker) == nil { throw SluiceError.notFound("worker", worker.description) }
                    return nil
                }
                let estimate = CostEstimate(metadata: next.metadata) ?? defaultEstimate
                if let refusal = try BudgetService.refusal(
                    tx, context, task: next, worker: worker, estimate: estimate)
                {
                    refusals.append(refusal)
                    skipped.append(next.taskID)
                } else {
                    candidate = next
                }
            }
            guard let next = candidate else { return nil }
            if let maxRunning,
                try tx.tasks(TaskFilter(state: .running, projectID: next.projectID, limit: maxRunning)).count
                    >= maxRunning
            {
                return nil
            }
            let claimed = try TaskService.step(tx, context, read: next, reason: "claimed by worker \(worker)") {
                .claim(workerID: worker, epoch: $0.epoch + 1)
            }
            // The worker is read once, as it is assigned: one that is not idle undoes the whole claim.
            do {
                try TaskService.moveWorker(tx, context, worker, .assign(taskID: claimed.taskID.description))
            } catch let error as SluiceError where error.code == .invalidTransition {
                let state = error.currentState ?? "not idle"
                throw SluiceError(
                    code: .invalidTransition,
                    message: "worker \(worker) is \(state): only an idle worker claims a task",
                    currentState: error.currentState)
            }
            // The budgets last (their rows stay locked until the commit): a refusal undoes the whole
            // claim, and leaves nothing held.
            do {
                try BudgetService.hold(
                    tx, context, task: next, worker: worker, epoch: claimed.epoch,
                    estimate: CostEstimate(metadata: next.metadata) ?? defaultEstimate)
            } catch let refusal as BudgetRefusal {
                // Another claim took what was left since the check above.
                refused.value.withLock { $0 = refusals + [refusal] }
                throw SluiceError(code: .blocked, message: refusal.message)
            }
            // The tasks passed over keep why, in their events.
            for refusal in refusals { try TaskService.noteRefusal(tx, context, refusal) }
            return claimed
        }
    }

    /// Records that the task's agent finished, with the patch it produced when there is one.
    ///
    /// - Throws: `lostRace` when `epoch` is not the task's (a claim taken over); `invalidTransition`
    ///   when the task is not running.
    /// - Throws: `notFound` when `patch` names no patch in the ledger.
    @discardableResult
    public func complete(_ id: TaskID, epoch: Int64, patch: LedgerID? = nil) async throws -> TaskRecord {
        try await apply(.complete(epoch: epoch, ledgerID: patch), to: id, reason: patch.map { "patch \($0)" }) { tx in
            if let patch, try tx.patch(patch) == nil { throw SluiceError.notFound("patch", patch.description) }
        }
    }

    /// Fails a running task with the reason (the agent's exit, a timeout, a stall, an empty diff).
    /// `costs` (what the attempt spent) are stored with the failure, in the same unit.
    @discardableResult
    public func fail(_ id: TaskID, epoch: Int64, reason: String, costs: [CostRecord] = []) async throws -> TaskRecord {
        let (insert, commit) = CostService(context).importingInTwo(costs)
        // The budgets' commits go last, with the release of the claim's hold: they update the budgets'
        // rows, locked until the commit.
        return try await apply(
            .fail(epoch: epoch, reason: reason), to: id, reason: reason,
            checking: { tx in if !costs.isEmpty { try insert(tx) } },
            then: { tx, ended in if !costs.isEmpty { try commit(tx, ended.take()) } })
    }

    /// Sends a running task back to the queue (its worker was lost or stopped with it); after its
    /// last attempt, it fails as a poison task.
    @discardableResult
    public func requeue(_ id: TaskID, epoch: Int64, reason: String) async throws -> TaskRecord {
        try await apply(.requeue(epoch: epoch, reason: reason), to: id, reason: reason)
    }

    /// Cancels a queued or running task; a running one's claim ends with it.
    @discardableResult
    public func cancel(_ id: TaskID) async throws -> TaskRecord {
        try await apply(.cancel, to: id, reason: "cancelled by \(context.actor)")
    }

    /// A heartbeat of a worker running a task: renews the worker's lease (by the database's clock)
    /// only while its claim of the task at `epoch` stands. A heartbeat under a stale epoch is refused
    /// and logged, and renews nothing: the caller has lost the task and must stop its agent.
    ///
    /// - Throws: `lostRace` when the task moved on (requeued, claimed again, cancelled) or is held by
    ///   another worker; `invalidTransition` when the worker is stopped or crashed.
    @discardableResult
    public func heartbeat(_ id: TaskID, epoch: Int64, worker: WorkerID) async throws -> WorkerRecord {
        let context = self.context
        do {
            return try await context.storage.write { tx in
                try TaskService.checkClaim(tx, id, epoch: epoch, worker: worker, operation: "heartbeat")
                let now = context.clock.now()
                return try tx.renewLease(
                    worker, at: now,
                    event: context.event(
                        .worker, worker.description, from: nil, to: nil, at: now,
                        payload: [
                            "operation": .string("heartbeat"), "task_id": .string(id.description),
                            "epoch": .number(Decimal(epoch)),
                        ]))
            }
        } catch let error as SluiceError where error.code == .lostRace {
            await logRefusal(id, operation: "heartbeat", epoch: epoch, error)
            throw error
        }
    }

    /// Checks inside a unit of work that `worker` holds task `id` under `epoch`.
    ///
    /// - Throws: `lostRace` naming what stands instead; `notFound` for an unknown task.
    static func checkClaim(_ tx: any StorageReader, _ id: TaskID, epoch: Int64, worker: WorkerID, operation: String)
        throws
    {
        guard let task = try tx.task(id) else { throw SluiceError.notFound("task", id.description) }
        guard task.epoch == epoch, task.state == .running, task.workerID == worker else {
            let now =
                task.state == .running
                ? "running at epoch \(task.epoch) for worker \(task.workerID?.description ?? "none")"
                : "\(task.state.rawValue) at epoch \(task.epoch)"
            throw SluiceError(
                code: .lostRace,
                message:
                    "cannot \(operation) task \(id) as worker \(worker) at epoch \(epoch): the task is \(now); "
                    + "its work is refused")
        }
    }

    /// The step of a unit of work that ends a running task's attempt (done with its patch, or failed)
    /// under its epoch, and frees its worker with the statistics counted: for a supervisor, which
    /// stores the patch, the costs and the outcome in one unit.
    ///
    /// The claim's hold is removed, and what it still held goes to `ended`: the caller releases it on
    /// the budgets with the unit's last writes (``BudgetService/release(_:_:)``, or with the costs'
    /// commit), so the budgets' rows are locked as briefly as they can be.
    static func finishing(
        _ context: EngineContext, _ id: TaskID, _ event: TaskEvent, reason: String?, ended: EndedHolds
    ) -> Step<TaskRecord> {
        { tx in
            let next = try TaskService.step(tx, context, id, reason: reason, ended: ended) { _ in event }
            if let worker = next.workerID ?? next.crashes.last?.workerID {
                try TaskService.release(tx, context, worker, from: next)
            }
            return next
        }
    }

    /// Keeps a refused report on record: who tried to report what, under which epoch.
    func logRefusal(_ id: TaskID, operation: String, epoch: Int64?, _ error: SluiceError) async {
        try? await context.storage.append(
            context.event(
                .task, id.description, from: nil, to: nil, reason: error.message, at: context.clock.now(),
                payload: [
                    "operation": .string("refused \(operation)"),
                    "epoch": epoch.map { .number(Decimal($0)) } ?? .null,
                ]))
    }

    /// The task with this id. - Throws: `notFound`.
    public func get(_ id: TaskID) async throws -> TaskRecord {
        guard let task = try await context.storage.task(id) else { throw SluiceError.notFound("task", id.description) }
        return task
    }

    /// Tasks, newest first.
    public func list(_ filter: TaskFilter = TaskFilter()) async throws -> [TaskRecord] {
        try await context.storage.tasks(filter)
    }

    /// Applies `event` to the task and, when the attempt ends, releases its worker in the same unit:
    /// the worker goes back to idle with the task counted (completed when done, failed otherwise) and
    /// the attempt's seconds added, if it is still busy with this task.
    private func apply(
        _ event: TaskEvent, to id: TaskID, reason: String?,
        checking check: @escaping @Sendable (any StorageWriter) throws -> Void = { _ in },
        then after: @escaping @Sendable (any StorageWriter, EndedHolds) throws -> Void = { _, _ in }
    ) async throws -> TaskRecord {
        let ended = EndedHolds()
        let finish = TaskService.finishing(context, id, event, reason: reason, ended: ended)
        do {
            return try await context.storage.write { tx in
                try check(tx)
                let task = try finish(tx)
                try after(tx, ended)
                try BudgetService.release(tx, ended.take())
                return task
            }
        } catch let error as SluiceError where error.code == .lostRace {
            await logRefusal(id, operation: event.name, epoch: event.epoch, error)
            throw error
        }
    }

    /// Frees the worker of an attempt that ended (`task` after it), if it still holds the task: back to
    /// idle, the task counted (completed when done, failed otherwise) and the attempt's seconds added.
    /// A paused worker is resumed first: the task it was paused on is over.
    static func release(_ tx: any StorageWriter, _ context: EngineContext, _ worker: WorkerID, from task: TaskRecord)
        throws
    {
        guard let holder = try tx.worker(worker), holder.currentTaskID == task.taskID.description else { return }
        if holder.state == .paused { try moveWorker(tx, context, worker, .resume) }
        guard holder.state == .busy || holder.state == .paused else { return }
        let start = task.claimedAt ?? task.updatedAt
        let seconds = Double(max(0, task.updatedAt.milliseconds - start.milliseconds)) / 1000
        try moveWorker(
            tx, context, worker,
            .complete(success: task.state == .done, executionSeconds: min(seconds, WorkerStatistics.maxTaskSeconds)))
    }

    /// When a worker that holds a running task crashes or stops, its task goes back to the queue
    /// (or fails as a poison task), in the worker's unit of work: the worker's late reports then
    /// carry a stale epoch.
    /// A worker stopped on purpose (`counted` false) gives its attempt back: a stop never makes a
    /// poison task.
    static func requeueHeld(
        _ tx: any StorageWriter, _ context: EngineContext, _ held: String, of worker: WorkerID, reason: String,
        counted: Bool = true
    ) throws {
        guard let id = try? TaskID(parsing: held), let task = try tx.task(id), task.state == .running,
            task.workerID == worker
        else { return }
        try TaskService.step(tx, context, id, reason: reason) { current in
            counted ? .requeue(epoch: current.epoch, reason: reason) : .release(epoch: current.epoch, reason: reason)
        }
    }

    /// One transition of a task inside a unit of work, with its event; `event` is made from the task
    /// as it stands (a claim raises its epoch, a requeue carries it).
    @discardableResult
    static func step(
        _ tx: any StorageWriter, _ context: EngineContext, _ id: TaskID, reason: String?, ended: EndedHolds? = nil,
        _ event: @escaping @Sendable (TaskRecord) -> TaskEvent
    ) throws -> TaskRecord {
        try endingHold(tx, tx.updateTask(id, change(context, reason: reason, event)), ended)
    }

    /// A claim that ends (done, failed, requeued, released, cancelled) releases its budgets' hold in
    /// the same unit of work: at once, or with the unit's last writes when it gives `ended`.
    private static func endingHold(_ tx: any StorageWriter, _ next: TaskRecord, _ ended: EndedHolds?) throws
        -> TaskRecord
    {
        // Every hold of the task: a cancel ends the claim's epoch by raising it.
        if next.state != .running, next.epoch > 0 {
            for hold in try tx.budgetHolds(taskID: next.taskID) {
                if let ended {
                    try tx.deleteHold(taskID: hold.taskID, epoch: hold.epoch)
                    ended.add(hold)
                } else {
                    try BudgetService.release(tx, hold)
                }
            }
        }
        return next
    }

    /// The same for a task the unit has just read.
    static func step(
        _ tx: any StorageWriter, _ context: EngineContext, read current: TaskRecord, reason: String?,
        _ event: @escaping @Sendable (TaskRecord) -> TaskEvent
    ) throws -> TaskRecord {
        try endingHold(tx, tx.updateTask(read: current, change(context, reason: reason, event)), nil)
    }

    /// A step's change: the transition `event` names, at the clock's time, and its event.
    static func change(
        _ context: EngineContext, reason: String?, _ event: @escaping @Sendable (TaskRecord) -> TaskEvent
    ) -> Change<TaskRecord> {
        { current in
            let now = context.clock.now()
            let change = event(current)
            let next = try current.applying(change, at: now)
            return (
                next,
                TaskService.event(context, from: current, to: next, operation: change.name, reason: reason, at: now)
            )
        }
    }

    /// Whether `taskID` names a task of the queue: those move with their task's commands, not the worker's.
    static func isQueued(_ tx: any StorageReader, _ taskID: String) throws -> Bool {
        guard let id = try? TaskID(parsing: taskID) else { return false }
        return try tx.task(id) != nil
    }

    /// Moves the worker of a task through its lifecycle inside the task's unit of work.
    static func moveWorker(_ tx: any StorageWriter, _ context: EngineContext, _ id: WorkerID, _ event: WorkerEvent)
        throws
    {
        let reason: String? = if case .assign(let task) = event { "task \(task)" } else { nil }
        try WorkerService.step(tx, context, id, event, reason: reason)
    }

    static func event(
        _ context: EngineContext, from current: TaskRecord, to next: TaskRecord, operation: String, reason: String?,
        at now: Timestamp
    ) -> Event {
        var payload: [String: JSONValue] = [
            "operation": .string(operation), "epoch": .number(Decimal(next.epoch)),
            "attempts": .number(Decimal(next.attempts)),
        ]
        if let worker = next.workerID ?? current.workerID { payload["worker_id"] = .string(worker.description) }
        if let patch = next.ledgerID { payload["ledger_id"] = .string(patch.description) }
        return context.event(
            .task, current.taskID.description, from: current.state.rawValue, to: next.state.rawValue, reason: reason,
            at: now, payload: payload)
    }
}

/// Where a claim's unit leaves a budget's refusal for its caller.
final class RefusalBox: Sendable {
    let value = Mutex<[BudgetRefusal]>([])
}

/// The holds a unit of work ended, whose release it writes last: the budgets' rows stay locked from
/// their first write until the commit, so each is written once, at the end.
final class EndedHolds: Sendable {
    private let parts = Mutex<[BudgetHoldPart]>([])

    func add(_ hold: BudgetHold) { parts.withLock { $0 += hold.parts } }

    /// The parts still to release; none after.
    func take() -> [BudgetHoldPart] {
        parts.withLock { parts in
            defer { parts = [] }; return parts
        }
    }
}
