import Foundation
import SluiceCore
import SluiceStore
import Synchronization

/// How a supervisor runs its agents (`sluice worker run`, `sluice run --workers`).
public struct SupervisorOptions: Sendable {
    public var agent: AgentKind
    /// What the user gave after `--` (see ``AgentKind/commandLine(_:prompt:promptFile:workspace:taskID:)``).
    public var command: [String]
    /// Workers in this process: agents running at once, at most.
    public var count: Int
    public var heartbeatSeconds: Double
    public var leaseSeconds: Double
    public var limits: WatchdogLimits
    /// Failed attempts' workspaces kept for inspection: at most this many, and this many bytes.
    public var keepFailed: Int
    public var keepFailedBytes: Int64
    /// Agents running at once for one project, across supervisors; nil for no cap.
    public var maxRunningPerProject: Int?
    /// Only tasks of this project.
    public var projectID: String?
    /// What a task without an estimate of its own holds on its budgets when claimed.
    public var defaultEstimate: CostEstimate?
    /// Wait for tasks forever instead of ending once none is queued or running.
    public var watch: Bool
    /// Whether a sealed agent keeps the network (its model's API is usually on it).
    public var network: Bool
    /// How often an idle worker looks for a task.
    public var pollSeconds: Double
    /// Seconds between SIGTERM and SIGKILL when an agent is stopped.
    public var graceSeconds: Double
    /// Whether each worker makes its next worktree while its agent runs (see ``Supervisor/SpareSlot``).
    /// Off only to measure what that saves.
    package var spareWorktrees = true

    /// The defaults are ``WorkerDefaults``', as `sluice.yml` without a `workers:` section gives them.
    public init(
        agent: AgentKind, command: [String] = [], count: Int = 1,
        heartbeatSeconds: Double = WorkerDefaults().heartbeatSeconds,
        leaseSeconds: Double = WorkerDefaults().leaseSeconds, limits: WatchdogLimits = WatchdogLimits(),
        keepFailed: Int = WorkerDefaults().keepFailed, keepFailedBytes: Int64 = WorkerDefaults().keepFailedBytes,
        maxRunningPerProject: Int? = nil, projectID: String? = nil, watch: Bool = false,
        network: Bool = WorkerDefaults().network, pollSeconds: Double = 0.1, graceSeconds: Double = 5,
        defaultEstimate: CostEstimate? = nil
    ) {
        self.defaultEstimate = defaultEstimate
        self.agent = agent
        self.command = command
        self.count = count
        self.heartbeatSeconds = heartbeatSeconds
        self.leaseSeconds = leaseSeconds
        self.limits = limits
        self.keepFailed = keepFailed
        self.keepFailedBytes = keepFailedBytes
        self.maxRunningPerProject = maxRunningPerProject
        self.projectID = projectID
        self.watch = watch
        self.network = network
        self.pollSeconds = pollSeconds
        self.graceSeconds = graceSeconds
    }

    /// Checks every value; the error names the first out of range.
    public func validated() throws -> SupervisorOptions {
        guard (1...256).contains(count) else { throw SluiceError.invalidInput("--count must be from 1 to 256") }
        guard heartbeatSeconds.isFinite, heartbeatSeconds >= 0.1, heartbeatSeconds <= 3600 else {
            throw SluiceError.invalidInput("--heartbeat must be from 0.1 to 3600 seconds")
        }
        guard leaseSeconds.isFinite, leaseSeconds > heartbeatSeconds, leaseSeconds <= 86_400 else {
            throw SluiceError.invalidInput(
                "--lease must be longer than the heartbeat (\(heartbeatSeconds) s) and at most 86400 seconds")
        }
        for (name, value) in [
            ("timeout", limits.timeoutSeconds), ("stall", limits.stallSeconds), ("burn", limits.burnSeconds),
        ] where !(value.isFinite && value >= 0 && value <= 7 * 86_400) {
            throw SluiceError.invalidInput("--\(name) must be from 0 (off) to 604800 seconds")
        }
        guard limits.loopRepeats == 0 || (2...100_000).contains(limits.loopRepeats) else {
            throw SluiceError.invalidInput("--loop-repeats must be 0 (off) or from 2 to 100000")
        }
        guard keepFailed >= 0, keepFailedBytes >= 0 else {
            throw SluiceError.invalidInput("keep_failed must not be negative")
        }
        if let cap = maxRunningPerProject, cap < 1 {
            throw SluiceError.invalidInput("--max-running must be at least 1")
        }
        if agent == .command, command.isEmpty {
            throw SluiceError.invalidInput(
                "--agent command needs the command to run after `--`, e.g. `-- ./agent.sh {prompt_file}`")
        }
        return self
    }
}

/// Something a supervisor did, for progress lines (and, encoded, a JSON line with `step: task`).
public struct SupervisorEvent: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case started, done, failed, requeued, lost, reaped, stopped, warning
        /// A hard budget cannot cover the next task: the worker claims nothing more (in watch mode,
        /// it waits for the budget to change or its window to turn).
        case budget
    }
    public var kind: Kind
    public var taskID: TaskID?
    public var workerID: WorkerID?
    public var ledgerID: LedgerID?
    public var message: String

    public init(
        _ kind: Kind, task: TaskID? = nil, worker: WorkerID? = nil, patch: LedgerID? = nil, message: String
    ) {
        self.kind = kind
        self.taskID = task
        self.workerID = worker
        self.ledgerID = patch
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case step
        case kind = "event"
        case taskID = "task_id"
        case workerID = "worker_id"
        case ledgerID = "ledger_id"
        case message
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("task", forKey: .step)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(taskID, forKey: .taskID)
        try container.encodeIfPresent(workerID, forKey: .workerID)
        try container.encodeIfPresent(ledgerID, forKey: .ledgerID)
        try container.encode(message, forKey: .message)
    }
}

/// What a supervisor's run did.
public struct SupervisorSummary: Sendable, Hashable {
    public var done = 0
    public var failed = 0
    /// Attempts that ended without an outcome of theirs (the claim was lost, the worker stopped now).
    public var lost = 0
    public var reaped = 0
    /// Why the run stopped claiming, when a hard budget stopped it.
    public var budgetStop: String?

    public init() {}
}

/// Runs agents on the task queue: N workers in this process, each claiming a task, running its agent
/// in a worktree of its own under a watchdog, heartbeating its claim, and turning what the agent did
/// into a patch for the landing pipeline (or a failure with the reason). It also reaps workers of
/// any process whose lease expired.
public final class Supervisor: Sendable {
    public let pipeline: Pipeline
    public let options: SupervisorOptions
    let workspaces: AgentWorkspaces
    private let stopping = Atomic<Bool>(false)
    private let counts = Mutex(SupervisorSummary())
    /// Spare worktrees made and not yet taken.
    let spares = Atomic<Int>(0)
    let board = WorkerBoard()

    /// What prices the agents' tokens: the default table with the project's `.sluice/prices.yml`.
    let prices: PriceTable

    /// - Throws: `invalidInput` for options out of range, or a project price table that does not read.
    public init(pipeline: Pipeline, options: SupervisorOptions) throws {
        self.pipeline = pipeline
        self.options = try options.validated()
        self.workspaces = AgentWorkspaces(pipeline: pipeline)
        self.prices = try PriceTableLoader.load(projectFile: pipeline.path(PriceTableLoader.fileName))
    }

    var engine: Engine { pipeline.engine }

    func summaryCounter(_ counter: WritableKeyPath<SupervisorSummary, Int>) {
        counts.withLock { $0[keyPath: counter] += 1 }
    }

    /// Asks every worker to finish its task and claim no more (SIGTERM does).
    public func requestStop() { stopping.store(true, ordering: .relaxed) }

    public var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Runs the workers until the queue is drained (none queued or running), or until stopped with
    /// `watch`; returns what they did.
    public func run(emit: @escaping @Sendable (SupervisorEvent) -> Void) async throws -> SupervisorSummary {
        let (bubblewrap, unsealed) = try await sealing()
        if let unsealed {
            emit(
                SupervisorEvent(
                    .warning,
                    message: "agents are not sealed: \(unsealed); they run as you, with everything you can reach. "
                        + "Install bubblewrap, or set sandbox: none in sluice.yml to run them unsealed knowingly"))
        }
        try await workspaces.cleanUpStale(engine.context.storage)
        // The reaper runs as long as a worker does, and ends with the last.
        let reaper = Task { try await self.reapLoop(emit: emit) }
        let boardReader = Task { await self.boardLoop() }
        defer { boardReader.cancel() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<options.count {
                    group.addTask { try await self.workerLoop(bubblewrap: bubblewrap, emit: emit) }
                }
                // The first failure ends the run: the others are cancelled, and their agents killed.
                try await group.waitForAll()
            }
        } catch {
            reaper.cancel()
            throw error
        }
        reaper.cancel()
        try? await reaper.value
        return counts.withLock { $0 }
    }

    // MARK: - Sealing

    /// The bubblewrap agents run under, or nil (unsealed), from `sluice.yml`'s `sandbox:`; with why
    /// they are unsealed when `auto` found no working bubblewrap.
    func sealing() async throws -> (String?, String?) {
        let (config, _) = try await pipeline.configuration()
        if config.sandbox == .none { return (nil, nil) }
        return try Pipeline.seal(config.sandbox, available: await pipeline.locateBubblewrap(), what: "agents")
    }

    /// The seal of one agent: the gates' (``Pipeline/seal(bubblewrap:writable:network:)``) with its
    /// worktree and prompt writable and the network as the user chose. Its program is shown too when
    /// it lives where the seal hides (`/tmp`, `.sluice/`).
    func sandbox(_ workspace: AgentWorkspaces.Workspace, program: String, bubblewrap: String?) -> ProcessSandbox {
        var sandbox = pipeline.seal(
            bubblewrap: bubblewrap, writable: [workspace.tree, workspace.promptFile], network: options.network)
        if sandbox.isSealed, program.hasPrefix("/") { sandbox.revealed = [program] }
        return sandbox
    }

    // MARK: - Reaping

    /// Reaps expired leases every heartbeat, and kills what agents of reaped workers left running.
    func reapLoop(emit: @escaping @Sendable (SupervisorEvent) -> Void) async throws {
        while !Task.isCancelled {
            // A database that fails for a moment fails this round only.
            let reaped = (try? await engine.workers.reap(lease: options.leaseSeconds)) ?? []
            for worker in reaped {
                summaryCounter(\.reaped)
                emit(
                    SupervisorEvent(
                        .reaped, worker: worker.workerID, message: "worker \(worker.workerID): lease expired"))
            }
            if !reaped.isEmpty { _ = try? await workspaces.cleanUpStale(engine.context.storage) }
            do {
                try await Task.sleep(for: .seconds(min(options.heartbeatSeconds, 5)))
            } catch {
                return  // cancelled: the last worker has ended
            }
        }
    }

    // MARK: - Workers

    /// One worker: its record, then claims and attempts until it stops; its spare worktree is removed
    /// when it ends.
    func workerLoop(bubblewrap: String?, emit: @escaping @Sendable (SupervisorEvent) -> Void) async throws {
        let slot = SpareSlot()
        do {
            try await serve(slot, bubblewrap: bubblewrap, emit: emit)
        } catch {
            await discardSpare(slot)
            throw error
        }
        await discardSpare(slot)
    }

    func serve(_ slot: SpareSlot, bubblewrap: String?, emit: @escaping @Sendable (SupervisorEvent) -> Void)
        async throws
    {
        let metadata: [String: JSONValue] = [
            "agent": .string(options.agent.rawValue),
            "supervisor": .string("\(ProcessInfo.processInfo.hostName):\(getpid())"),
            WorkerService.leaseKey: .number(Decimal(options.leaseSeconds)),
            "heartbeat_seconds": .number(Decimal(options.heartbeatSeconds)),
        ]
        let worker = try await engine.workers.create(
            type: .executor,
            config: WorkerConfig(
                heartbeatInterval: max(1, Int(options.heartbeatSeconds.rounded(.up))),
                // No limit (0) is recorded as the longest a worker config allows.
                timeoutSeconds: options.limits.timeoutSeconds > 0
                    ? max(1, Int(min(options.limits.timeoutSeconds, Double(WorkerConfig.maxima.timeoutSeconds))))
                    : WorkerConfig.maxima.timeoutSeconds),
            metadata: metadata)
        let id = worker.workerID
        let clock = ContinuousClock()
        var lastBeat = clock.now
        while true {
            guard let record = try await engine.context.storage.worker(id), !record.state.isTerminal else { return }
            if Task.isCancelled {
                try? await engine.workers.shutdown(id)
                return
            }
            if isStopping || record.metadata[WorkerService.stopRequestedKey] == .bool(true) {
                if record.state != .busy { try? await engine.workers.shutdown(id) }
                emit(SupervisorEvent(.stopped, worker: id, message: "worker \(id) stopped"))
                return
            }
            if clock.now - lastBeat >= .seconds(options.heartbeatSeconds) {
                _ = try? await engine.workers.heartbeat(id)
                lastBeat = clock.now
            }
            if record.state == .paused {
                try? await Task.sleep(for: .seconds(options.pollSeconds))
                continue
            }
            prepareSpare(slot)
            // A read first: an idle worker takes the write lock only when a task is there to claim.
            if try await engine.tasks.list(TaskFilter(state: .queued, projectID: options.projectID, limit: 1)).isEmpty {
                if try await idle(id) { return }
                continue
            }
            let claimed: TaskRecord?
            do {
                claimed = try await engine.tasks.claim(
                    for: id, projectID: options.projectID, agent: options.agent.rawValue,
                    maxRunning: options.maxRunningPerProject, defaultEstimate: options.defaultEstimate)
            } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                // Paused or stopped between the read and the claim: look again.
                try? await Task.sleep(for: .seconds(options.pollSeconds))
                continue
            } catch let error as SluiceError where error.code == .blocked {
                // A hard budget cannot cover the next task: no new work until it can.
                if try await stoppedOnBudget(id, error.message, emit: emit) { return }
                continue
            }
            guard let task = claimed else {
                if try await idle(id) { return }
                continue
            }
            // The loop's own heartbeat keeps its time: an attempt shorter than a heartbeat renews
            // nothing, and back-to-back short attempts must not starve the lease.
            await attempt(task, worker: id, spare: slot, bubblewrap: bubblewrap, emit: emit)
        }
    }

    /// A worker whose next task a hard budget cannot cover: it says so (once per reason for the whole
    /// supervisor) and stops, or, watching, waits (a heartbeat's time) for the budget or its window
    /// to change.
    func stoppedOnBudget(_ worker: WorkerID, _ reason: String, emit: @escaping @Sendable (SupervisorEvent) -> Void)
        async throws -> Bool
    {
        let first = counts.withLock { summary in
            defer { summary.budgetStop = reason }
            return summary.budgetStop != reason
        }
        if first { emit(SupervisorEvent(.budget, worker: worker, message: "stopped on budget: \(reason)")) }
        if !options.watch {
            try? await engine.workers.shutdown(worker)
            return true
        }
        try? await Task.sleep(for: .seconds(max(options.pollSeconds, min(options.heartbeatSeconds, 5))))
        return false
    }

    /// A worker with nothing to claim: it stops once nothing is left for it (unless watching) and
    /// says so, else it waits a poll.
    func idle(_ worker: WorkerID) async throws -> Bool {
        if !options.watch, try await drained() {
            try? await engine.workers.shutdown(worker)
            return true
        }
        try? await Task.sleep(for: .seconds(options.pollSeconds))
        return false
    }

    /// Whether nothing is left for this supervisor: none is running (a running one may come back to
    /// the queue when its worker's lease expires), and no task it could take is queued. Running is
    /// read first: a task a reaper sends back to the queue between the two reads is seen queued by
    /// the second, where the other order would see it in neither and stop with it left behind.
    func drained() async throws -> Bool {
        guard try await engine.tasks.list(TaskFilter(state: .running, projectID: options.projectID, limit: 1)).isEmpty
        else { return false }
        let agent = options.agent.rawValue
        let queued = try await engine.tasks.list(TaskFilter(state: .queued, projectID: options.projectID))
        return !queued.contains(where: { $0.agent == nil || $0.agent == agent })
    }
}

extension Supervisor {
    /// `sluice worker gc`: kills what agents of finished claims left running, removes their
    /// workspaces, and removes kept failed ones beyond the newest `keeping`. Returns how many it removed.
    public static func collectGarbage(pipeline: Pipeline, keeping: Int) async throws -> Int {
        let workspaces = AgentWorkspaces(pipeline: pipeline)
        let stale = try await workspaces.cleanUpStale(pipeline.engine.context.storage)
        let failed = try await workspaces.trimFailed(keeping: keeping, bytes: .max).count
        // Worktrees whose folder is gone (removed by hand, or by a supervisor killed mid-way, even
        // while git was making one and had it locked).
        _ = try await WorktreeLock.holding(for: pipeline.repository) {
            workspaces.unlockVanished()
            return try await pipeline.git.run(["worktree", "prune"])
        }
        return stale + failed
    }
}
