import Foundation
import SluiceCore
import SluiceStore

/// WorkerLifecycle: creates workers and moves them through their states.
public struct WorkerService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Creates an idle worker.
    ///
    /// - Parameter id: a caller-supplied id; a new ULID when nil.
    /// - Throws: `invalidInput` for a bad config, `conflict` when the id is taken.
    @discardableResult
    public func create(
        type: WorkerType, id: WorkerID? = nil, config: WorkerConfig = WorkerConfig(),
        metadata: [String: JSONValue] = [:]
    ) async throws -> WorkerRecord {
        let now = context.clock.now()
        let worker = WorkerRecord(
            workerID: id ?? WorkerID.make(context.ids), workerType: type, config: try config.validated(),
            metadata: metadata, at: now)
        try await context.storage.insertWorker(
            worker,
            event: context.event(
                .worker, worker.workerID.description, from: nil, to: WorkerState.idle.rawValue, at: now))
        return worker
    }

    /// Gives an idle worker a task.
    @discardableResult
    public func assign(_ id: WorkerID, task: String) async throws -> WorkerRecord {
        try await apply(.assign(taskID: task), to: id, reason: "task \(task)")
    }

    /// Records that a busy worker finished its task.
    @discardableResult
    public func complete(_ id: WorkerID, success: Bool = true, executionSeconds: Double = 0) async throws
        -> WorkerRecord
    {
        try await apply(
            .complete(success: success, executionSeconds: executionSeconds), to: id,
            reason: success ? "task succeeded" : "task failed")
    }

    /// Pauses an idle or busy worker.
    @discardableResult
    public func pause(_ id: WorkerID) async throws -> WorkerRecord { try await apply(.pause, to: id, reason: nil) }

    /// Resumes a paused worker: busy if it holds a task, else idle.
    @discardableResult
    public func resume(_ id: WorkerID) async throws -> WorkerRecord { try await apply(.resume, to: id, reason: nil) }

    /// Records a crash; the worker's task is released.
    @discardableResult
    public func crash(_ id: WorkerID, error message: String, stackTrace: String? = nil) async throws -> WorkerRecord {
        guard !message.isEmpty else { throw SluiceError.invalidInput("a crash needs an error message") }
        return try await apply(.crash(errorMessage: message, stackTrace: stackTrace), to: id, reason: message)
    }

    /// Shuts a worker down; its task is released.
    @discardableResult
    public func shutdown(_ id: WorkerID) async throws -> WorkerRecord {
        try await apply(.shutdown, to: id, reason: nil)
    }

    /// Asks a worker to stop once its task is done: a worker running a task of the queue finishes it
    /// (its supervisor sees the request and claims nothing more); any other stops at once, as
    /// ``shutdown(_:)``. `sluice worker stop --now` is ``shutdown(_:)``: the task goes back to the queue.
    @discardableResult
    public func requestStop(_ id: WorkerID) async throws -> WorkerRecord {
        let context = self.context
        let requested = try await context.storage.write { tx -> WorkerRecord? in
            guard let worker = try tx.worker(id) else { throw SluiceError.notFound("worker", id.description) }
            guard !worker.state.isTerminal, let held = worker.currentTaskID, try TaskService.isQueued(tx, held) else {
                return nil
            }
            return try tx.updateWorker(id) { current in
                var next = current
                next.metadata[WorkerService.stopRequestedKey] = .bool(true)
                return (
                    next,
                    context.event(
                        .worker, id.description, from: nil, to: nil, reason: "stop requested: finishing task \(held)",
                        at: context.clock.now(),
                        payload: ["operation": .string("request_stop"), "task_id": .string(held)])
                )
            }
        }
        if let requested { return requested }
        return try await shutdown(id)
    }

    /// The metadata key a stop request sets.
    public static let stopRequestedKey = "stop_requested"

    /// Marks `crashed` (reason: lease expired) every live worker whose lease, by the database's clock,
    /// is older than `lease` seconds (or than its own, longer, `lease_seconds` when it recorded one),
    /// and sends its task back to the queue with its attempt counted (a poison task after its last),
    /// one unit of work for all. Every supervisor runs it; `sluice worker reap` too. Returns the
    /// workers it reaped.
    public func reap(lease: Double) async throws -> [WorkerRecord] {
        guard lease.isFinite, lease > 0, lease <= WorkerStatistics.maxTaskSeconds else {
            throw SluiceError.invalidInput(
                "the lease must be a number of seconds from 1 to \(Int(WorkerStatistics.maxTaskSeconds))")
        }
        let context = self.context
        return try await context.storage.write { tx in
            var reaped: [WorkerRecord] = []
            // Workers past each longer lease they recorded, read once per lease.
            var pastLease: [Double: Set<WorkerID>] = [:]
            for candidate in try tx.staleWorkers(olderThan: lease) {
                if let own = candidate.metadata[WorkerService.leaseKey]?.numberValue,
                    case let seconds = NSDecimalNumber(decimal: own).doubleValue, seconds > lease
                {
                    if pastLease[seconds] == nil {
                        pastLease[seconds] = Set(try tx.staleWorkers(olderThan: seconds).map(\.workerID))
                    }
                    if pastLease[seconds]?.contains(candidate.workerID) != true { continue }
                }
                let message = "lease expired"
                do {
                    // The worker first: when another reaper got there first, nothing here is written.
                    reaped.append(
                        try WorkerService.step(
                            tx, context, candidate.workerID, .crash(errorMessage: message, stackTrace: nil),
                            reason: message))
                    if let held = candidate.currentTaskID {
                        try TaskService.requeueHeld(
                            tx, context, held, of: candidate.workerID,
                            reason: "worker \(candidate.workerID) crashed: \(message)")
                    }
                } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                    continue  // another reaper, or the worker itself, moved it first
                }
            }
            return reaped
        }
    }

    /// The metadata key where a supervised worker records its lease, in seconds.
    public static let leaseKey = "lease_seconds"

    /// Renews a live worker's lease.
    ///
    /// - Throws: `notFound` for an unknown worker, `invalidTransition` for a stopped or crashed one.
    @discardableResult
    public func heartbeat(_ id: WorkerID) async throws -> WorkerRecord {
        let now = context.clock.now()
        return try await context.storage.renewLease(
            id, at: now,
            event: context.event(
                .worker, id.description, from: nil, to: nil, at: now, payload: ["operation": .string("heartbeat")]))
    }

    /// The worker with this id. - Throws: `notFound`.
    public func get(_ id: WorkerID) async throws -> WorkerRecord {
        guard let worker = try await context.storage.worker(id) else {
            throw SluiceError.notFound("worker", id.description)
        }
        return worker
    }

    /// Workers, newest first.
    public func list(state: WorkerState? = nil, type: WorkerType? = nil) async throws -> [WorkerRecord] {
        try await context.storage.workers(state: state, type: type)
    }

    /// Non-terminal workers whose lease, by the database's clock, is older than `timeout` seconds.
    public func stale(timeout: Double) async throws -> [WorkerRecord] {
        guard timeout.isFinite, (0...WorkerStatistics.maxTaskSeconds).contains(timeout) else {
            throw SluiceError.invalidInput(
                "the stale timeout must be a number of seconds from 0 to \(Int(WorkerStatistics.maxTaskSeconds))")
        }
        return try await context.storage.staleWorkers(olderThan: timeout)
    }

    /// Applies `event` in one unit of work. A task of the queue moves with its own commands, under its
    /// epoch: it cannot be assigned or completed here. When a worker holding a running task of the
    /// queue crashes or stops, the task goes back to the queue in the same unit.
    private func apply(_ event: WorkerEvent, to id: WorkerID, reason: String?) async throws -> WorkerRecord {
        let context = self.context
        return try await context.storage.write { tx in
            // The events that end a worker's hold on a task of the queue move that task first, or not at all.
            switch event {
            case .assign(let task):
                if try TaskService.isQueued(tx, task) {
                    throw SluiceError.invalidInput(
                        "\(task) is a task of the queue: a worker takes it with `sluice task claim`, under an epoch")
                }
            case .complete:
                if let held = try tx.worker(id)?.currentTaskID, try TaskService.isQueued(tx, held) {
                    throw SluiceError.invalidInput(
                        "worker \(id) holds task \(held) of the queue: report it with `sluice task complete` or "
                            + "`task fail` and its epoch, which frees the worker")
                }
            case .crash(let message, _):
                if let held = try tx.worker(id)?.currentTaskID {
                    try TaskService.requeueHeld(tx, context, held, of: id, reason: "worker crashed: \(message)")
                }
            case .shutdown:
                if let held = try tx.worker(id)?.currentTaskID {
                    try TaskService.requeueHeld(tx, context, held, of: id, reason: "worker stopped", counted: false)
                }
            default:
                break
            }
            return try WorkerService.step(tx, context, id, event, reason: reason)
        }
    }

    /// Moves a worker through one event inside a unit of work, with its event (the task named in the
    /// payload when it holds or held one).
    @discardableResult
    static func step(
        _ tx: any StorageWriter, _ context: EngineContext, _ id: WorkerID, _ event: WorkerEvent, reason: String?
    ) throws -> WorkerRecord {
        try tx.updateWorker(id) { current in
            let now = context.clock.now()
            let next = try current.applying(event, at: now)
            var payload: [String: JSONValue] = ["operation": .string(event.name)]
            if let task = current.currentTaskID ?? next.currentTaskID { payload["task_id"] = .string(task) }
            return (
                next,
                context.event(
                    .worker, id.description, from: current.state.rawValue, to: next.state.rawValue, reason: reason,
                    at: now, payload: payload)
            )
        }
    }
}
