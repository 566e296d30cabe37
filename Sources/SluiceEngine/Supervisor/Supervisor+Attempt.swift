import Foundation
import SluiceCore
import SluiceStore
import Synchronization

extension Supervisor {
    /// What the monitor saw while the agent ran. (The tokens it counted served the watchdog; the
    /// attempt reads the whole output again once the agent has ended.)
    struct Watch: Sendable {
        var verdict: WatchdogVerdict = .running
        /// Why the claim was lost (a stale epoch, the worker stopped or reaped), if it was.
        var lost: String?
    }

    /// The monitor's findings, shared with the attempt that reads them once the agent ended.
    final class WatchBox: Sendable {
        let state = Mutex(Watch())
    }

    /// Runs one claimed task to its end: workspace (the worker's spare when it has one), agent,
    /// watchdog, heartbeats, then the patch or the failure, recorded under the claim's epoch. Once the
    /// agent runs, the worker's next spare is made. Never throws: what goes wrong fails the task with
    /// the reason, or, when the claim is gone, is dropped (the task is another attempt's now).
    func attempt(
        _ task: TaskRecord, worker: WorkerID, spare slot: SpareSlot, bubblewrap: String?,
        emit: @escaping @Sendable (SupervisorEvent) -> Void
    ) async {
        let attempt = TaskAttempt(taskID: task.taskID, epoch: task.epoch, workerID: worker, attempt: task.attempts)
        emit(
            SupervisorEvent(
                .started, task: task.taskID, worker: worker,
                message: "task \(task.taskID) started (attempt \(task.attempts), epoch \(task.epoch))"))
        // The claim stays renewed from the claim on: waiting for a spare still being made, or a long
        // checkout, must not let the lease expire before the monitor's heartbeats begin.
        let early = keepAlive(attempt)
        let workspace: AgentWorkspaces.Workspace
        do {
            let spare = await takeSpare(slot)
            let base: String
            do {
                base = try await baseCommit(for: task)
            } catch {
                if let spare { await workspaces.discard(spare) }
                throw error
            }
            workspace = try await workspaces.create(
                task: task.taskID, epoch: task.epoch, at: base, prompt: task.prompt, spare: spare)
        } catch {
            early.cancel()
            await fail(attempt, reason: "workspace: \(Self.describe(error))", costs: [], emit: emit)
            return
        }
        let clock = ContinuousClock()
        let started = clock.now
        let (exit, watch) = await runAgent(task, attempt: attempt, workspace: workspace, bubblewrap: bubblewrap) {
            early.cancel()
            self.prepareSpare(slot)
        }
        early.cancel()
        let seconds = (clock.now - started).inSeconds
        if let lost = watch.lost {
            summaryCounter(\.lost)
            emit(SupervisorEvent(.lost, task: task.taskID, worker: worker, message: "task \(task.taskID): \(lost)"))
            archiveLogs(workspace)
            try? await workspaces.remove(workspace.folder)
            return
        }
        let stdout = Self.tail(of: workspace.stdoutLog, limit: 16 << 20)
        let stderr = Self.tail(of: workspace.stderrLog, limit: 64 << 10)
        // Usage lines read again whole: the last ones came after the monitor's last look.
        var streamed = StreamingUsage(kind: options.agent)
        for line in stdout.split(whereSeparator: \.isNewline) { streamed.feed(line) }
        let report = options.agent.report(
            stdout: stdout, stderr: stderr, exitCode: exit.exitCode, streamed: streamed,
            arguments: options.command)
        var costs = self.costs(report.usage, task: task, attempt: attempt)
        if costs.isEmpty, exit.launchError == nil, let unreported = await unreportedUsage(task: task, attempt: attempt)
        {
            costs.append(unreported)
        }
        var failure: String?
        if let reason = watch.verdict.reason {
            failure = reason
        } else if let launch = exit.launchError {
            failure = "the agent could not start: \(launch)"
        } else if let signal = exit.signal ?? (bubblewrap != nil ? Self.signal(inSealedExit: exit.exitCode) : nil) {
            failure = "the agent was killed by signal \(signal)"
        } else if case .failure(let reason) = report.outcome {
            failure = reason
        } else if exit.exitCode != 0 {
            failure = "the agent exited with \(exit.exitCode ?? -1)"
        }
        if var reason = failure {
            let tail = Self.lastLines(stderr, bytes: 600)
            if !tail.isEmpty { reason += "; stderr: " + tail }
            await fail(attempt, reason: reason, costs: costs, emit: emit)
            await keep(workspace, reason: reason)
            return
        }
        // The claim stays renewed while the work is read and submitted (a large diff takes a while).
        let late = keepAlive(attempt)
        defer { late.cancel() }
        do {
            // Read once for the size check and the submission: the head the patch is validated against.
            let configuration = try await pipeline.configuration()
            let diff = try await workspaces.diff(workspace, maxBytes: configuration.0.policy.maxPatchBytes)
            guard !diff.isEmpty else {
                let reason = "empty diff: the agent changed nothing"
                await fail(attempt, reason: reason, costs: costs, emit: emit)
                await keep(workspace, reason: reason)
                return
            }
            let (patch, _) = try await pipeline.submit(
                diff,
                Pipeline.Submission(
                    project: task.projectID, workstream: task.workstreamID, phase: task.phase,
                    request: task.executionRequestID, message: Self.commitMessage(task), base: workspace.base,
                    author: "\(options.agent.rawValue) agent <\(options.agent.rawValue)@agents.sluice.invalid>"),
                for: attempt, costs: costs, configuration: configuration)
            summaryCounter(\.done)
            emit(
                SupervisorEvent(
                    .done, task: task.taskID, worker: worker, patch: patch.ledgerID,
                    message: "task \(task.taskID) done in \(Int(seconds.rounded())) s: patch \(patch.ledgerID) "
                        + patch.verdict))
            archiveLogs(workspace)
            try? await workspaces.remove(workspace.folder)
        } catch let error as SluiceError where error.code == .lostRace {
            summaryCounter(\.lost)
            emit(
                SupervisorEvent(
                    .lost, task: task.taskID, worker: worker, message: "task \(task.taskID): \(error.message)"))
            archiveLogs(workspace)
            try? await workspaces.remove(workspace.folder)
        } catch {
            let reason = "the patch could not be submitted: \(Self.describe(error))"
            await fail(attempt, reason: reason, costs: costs, emit: emit)
            await keep(workspace, reason: reason)
        }
    }

    /// Heartbeats the claim every heartbeat period until cancelled, or until the claim is refused
    /// (it is lost: whoever holds the attempt learns that from its own next step).
    func keepAlive(_ attempt: TaskAttempt) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(options.heartbeatSeconds))
                if Task.isCancelled { break }
                do {
                    try await engine.tasks.heartbeat(attempt.taskID, epoch: attempt.epoch, worker: attempt.workerID)
                } catch let error as SluiceError where error.code == .lostRace || error.code == .invalidTransition {
                    break
                } catch {
                    // The database is unreachable for a moment: the lease has room for a few misses.
                }
            }
        }
    }

    /// The commit the agent starts from: the task's branch head, else the target branch's.
    func baseCommit(for task: TaskRecord) async throws -> String {
        if let branch = task.branch {
            guard let commit = try await pipeline.git.commit(of: "refs/heads/\(branch)") else {
                throw SluiceError.invalidInput("task \(task.taskID) names branch \(branch), which does not exist")
            }
            return commit
        }
        return try await pipeline.configuration().1
    }

    /// Starts the agent and watches it until it ends or must be stopped; `started` is called once it
    /// runs.
    func runAgent(
        _ task: TaskRecord, attempt: TaskAttempt, workspace: AgentWorkspaces.Workspace, bubblewrap: String?,
        started: @escaping @Sendable () -> Void = {}
    ) async -> (AgentExit, Watch) {
        let command: [String]
        // What the hard budgets leave: an agent that can stop itself there is told (a failed read
        // passes no cap; the hold already stands).
        let cap = try? await engine.budgets.cap(for: task, worker: attempt.workerID, epoch: attempt.epoch)
        do {
            command = try options.agent.commandLine(
                options.command, prompt: task.prompt, promptFile: workspace.promptFile, workspace: workspace.tree,
                taskID: task.taskID.description, capUSD: cap ?? nil)
        } catch {
            return (AgentExit(launchError: Self.describe(error)), Watch())
        }
        var environment = Self.agentEnvironment()
        for (key, value) in options.agent.environment { environment[key] = value }
        environment["SLUICE_TASK_ID"] = task.taskID.description
        environment["SLUICE_EPOCH"] = String(attempt.epoch)
        environment["SLUICE_ATTEMPT"] = String(attempt.attempt)
        environment["SLUICE_WORKER_ID"] = attempt.workerID.description
        environment["SLUICE_WORKSPACE"] = workspace.tree
        environment["SLUICE_PROMPT_FILE"] = workspace.promptFile
        environment["SLUICE_BASE_COMMIT"] = workspace.base
        environment["SLUICE_PROJECT"] = task.projectID
        if let cap = cap ?? nil { environment["SLUICE_BUDGET_LEFT_USD"] = cap.description }
        let group = AgentGroup()
        let watch = WatchBox()
        let exit = await AgentProcess.run(
            command, in: workspace.tree, environment: environment,
            sandbox: sandbox(workspace, program: command[0], bubblewrap: bubblewrap),
            stdoutPath: workspace.stdoutLog, stderrPath: workspace.stderrLog, group: group
        ) {
            if let pid = group.pid, let record = ProcessGroupRecord.current(leader: pid) {
                try? Data(record.line.utf8).write(
                    to: URL(fileURLWithPath: workspace.processGroupFile))
            }
            started()
            await self.monitor(attempt, workspace: workspace, group: group, watch: watch)
        }
        try? FileManager.default.removeItem(atPath: workspace.processGroupFile)
        return (exit, watch.state.withLock { $0 })
    }

    /// Watches the agent every 2 s (more often under a short stall limit): its output (progress, loops,
    /// tokens), its workspace, its claim (heartbeats) and its worker's state (pause, resume, stop now).
    /// Returns once the agent must stop, after stopping it.
    func monitor(
        _ attempt: TaskAttempt, workspace: AgentWorkspaces.Workspace, group: AgentGroup, watch: WatchBox
    ) async {
        let clock = ContinuousClock()
        let origin = clock.now
        func now() -> Double { (clock.now - origin).inSeconds }
        var watchdog = Watchdog(limits: options.limits, startedAt: 0)
        var streamed = StreamingUsage(kind: options.agent)
        var reader = LineReader(path: workspace.stdoutLog)
        var errorBytes: UInt64 = 0
        var fingerprint = AgentWorkspaces.fingerprint(of: workspace.tree)
        // The workspace is walked a few times per the shortest limit that needs it (a walk is the
        // monitor's costliest step), at most every 30 s.
        let needs = [options.limits.stallSeconds, options.limits.burnSeconds].filter { $0 > 0 }.min() ?? 120
        let fingerprintEvery = min(30, max(0.25, needs / 4))
        // Each look costs a wake-up: every 2 s, or five times a second under a stall limit below 5 s
        // (once a second below 30 s).
        let stall = options.limits.stallSeconds
        let short = stall > 0 && stall < 5
        let every = short ? 0.2 : stall > 0 && stall < 30 ? 1.0 : 2.0
        // Never slower than the heartbeats: a lease shorter than a look would expire between two.
        let tick: Duration = .milliseconds(Int(min(every, options.heartbeatSeconds) * 1000))
        let errors = FileHandle(forReadingAtPath: workspace.stderrLog)
        defer { try? errors?.close() }
        var lastFingerprint = 0.0
        var lastBeat = 0.0
        var paused = false
        board.follow(attempt.workerID)
        defer { board.forget(attempt.workerID) }
        while !Task.isCancelled {
            try? await Task.sleep(for: tick)
            let time = now()
            // Output: progress, lines for loops and tokens.
            let (bytes, lines) = reader.readNew()
            watchdog.output(bytes: bytes, at: time)
            for line in lines {
                watchdog.line(line)
                streamed.feed(line)
            }
            watchdog.tokensSpent(streamed.totalTokens)
            let errorSize = errors.map { Self.size(of: $0) } ?? 0
            if errorSize > errorBytes {
                watchdog.output(bytes: Int(errorSize - errorBytes), at: time)
                errorBytes = errorSize
            }
            if time - lastFingerprint >= fingerprintEvery {
                lastFingerprint = time
                let next = AgentWorkspaces.fingerprint(of: workspace.tree)
                if next != fingerprint {
                    fingerprint = next
                    watchdog.workspaceChanged(at: time)
                }
            }
            // The claim: heartbeats; the worker's state, as the board last read it.
            var lost: String?
            if time - lastBeat >= options.heartbeatSeconds {
                lastBeat = time
                do {
                    try await engine.tasks.heartbeat(attempt.taskID, epoch: attempt.epoch, worker: attempt.workerID)
                } catch let error as SluiceError where error.code == .lostRace || error.code == .invalidTransition {
                    lost = error.message
                } catch {
                    // The database is unreachable for a moment: the lease has room for a few misses.
                }
            }
            if lost == nil, let state = board.state(of: attempt.workerID) {
                if state.isTerminal {
                    lost = "worker \(attempt.workerID) is \(state.rawValue)"
                } else if state == .paused, !paused {
                    group.signal(SIGSTOP)
                    paused = true
                    watchdog.paused(true, at: time)
                } else if state != .paused, paused {
                    group.signal(SIGCONT)
                    paused = false
                    watchdog.paused(false, at: time)
                }
            }
            let verdict = watchdog.verdict(at: time)
            watch.state.withLock {
                $0.verdict = verdict
                $0.lost = lost
            }
            if lost != nil || verdict != .running {
                await group.stop(grace: .seconds(options.graceSeconds))
                return
            }
        }
        // Cancelled: the agent ended (whatever it left in its group goes with it), or the run was.
        group.signal(SIGKILL)
    }

    // MARK: - Outcomes

    /// Fails the attempt with the reason and its costs; a stale claim is dropped.
    func fail(
        _ attempt: TaskAttempt, reason: String, costs: [CostRecord],
        emit: @escaping @Sendable (SupervisorEvent) -> Void
    ) async {
        do {
            try await engine.tasks.fail(attempt.taskID, epoch: attempt.epoch, reason: reason, costs: costs)
            summaryCounter(\.failed)
            emit(
                SupervisorEvent(
                    .failed, task: attempt.taskID, worker: attempt.workerID,
                    message: "task \(attempt.taskID) failed: \(reason)"))
        } catch {
            summaryCounter(\.lost)
            emit(
                SupervisorEvent(
                    .lost, task: attempt.taskID, worker: attempt.workerID,
                    message: "task \(attempt.taskID): the failure was not recorded: \(Self.describe(error))"))
        }
    }

    /// Keeps a failed attempt's workspace for inspection, within `keep_failed`.
    func keep(_ workspace: AgentWorkspaces.Workspace, reason: String) async {
        guard options.keepFailed > 0 else {
            archiveLogs(workspace)
            try? await workspaces.remove(workspace.folder)
            return
        }
        workspaces.keepFailed(workspace, reason: reason)
        try? await workspaces.trimFailed(keeping: options.keepFailed, bytes: options.keepFailedBytes)
    }

    /// Moves the agent's logs (their ends) to `.sluice/logs/tasks/<task>-e<epoch>/`.
    func archiveLogs(_ workspace: AgentWorkspaces.Workspace) {
        let target = pipeline.path("logs", "tasks", (workspace.folder as NSString).lastPathComponent)
        try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for log in [workspace.stdoutLog, workspace.stderrLog] {
            _ = ProcessRunner.truncate(log, to: 1 << 20)
            let destination = (target as NSString).appendingPathComponent((log as NSString).lastPathComponent)
            try? FileManager.default.removeItem(atPath: destination)
            try? FileManager.default.moveItem(atPath: log, toPath: destination)
        }
    }

    /// `api_call` costs, one per model, priced by the price table (the entry and the rates applied
    /// kept with the record); else the amount the agent reported, marked so; else no amount at all,
    /// marked unpriced, with why (an unknown amount is never $0). What the agent reported is kept
    /// beside a priced amount, with the difference and whether it passes the tolerance.
    func costs(_ usage: [AgentUsage], task: TaskRecord, attempt: TaskAttempt) -> [CostRecord] {
        let now = engine.context.clock.now()
        return usage.compactMap { usage in
            var metadata = attributes(task: task, attempt: attempt)
            metadata["input_tokens"] = .number(Decimal(usage.inputTokens))
            metadata["cached_input_tokens"] = .number(Decimal(usage.cachedInputTokens))
            metadata["cache_write_tokens"] = .number(Decimal(usage.cacheWriteTokens))
            metadata["output_tokens"] = .number(Decimal(usage.outputTokens))
            var amount = usage.reportedCostUSD
            var currency = Currency.usd
            var source = usage.reportedCostUSD == nil ? "unpriced" : "reported"
            if let reported = usage.reportedCostUSD { metadata["reported_amount"] = .string(reported.description) }
            if let model = usage.model {
                metadata["model"] = .string(model)
                let counts = TokenCounts(
                    input: usage.inputTokens, cachedInput: usage.cachedInputTokens,
                    cacheWrite: usage.cacheWriteTokens, output: usage.outputTokens)
                do {
                    let quote = try prices.price(counts, model: model, at: now)
                    amount = quote.amount
                    currency = quote.currency
                    source = "priced"
                    if let reported = usage.reportedCostUSD, quote.currency == .usd,
                        let difference = try? reported.adding(ExactDecimal(units: -quote.amount.units))
                    {
                        metadata["reported_difference"] = .string(difference.description)
                        metadata["reported_disagrees"] = .bool(
                            ReportedCost.disagrees(priced: quote.amount, reported: reported))
                    }
                    metadata["price_entry"] = .string(quote.entryID)
                    metadata["price_rates"] = quote.rates.json
                    if let tier = quote.tier { metadata["price_tier"] = .number(Decimal(tier)) }
                } catch let unpriced as Unpriced {
                    metadata["unpriced_reason"] = .string(unpriced.reason)
                } catch {
                    metadata["unpriced_reason"] = .string(Self.describe(error))
                }
            } else {
                metadata["unpriced_reason"] = .string("the agent named no model")
            }
            // A cost of nothing for tokens spent is not a price: the work is not free, its cost unknown.
            let tokens = usage.inputTokens + usage.cachedInputTokens + usage.cacheWriteTokens + usage.outputTokens
            if source == "reported", amount == .zero, tokens > 0 {
                amount = nil
                source = "unpriced"
                metadata["unpriced_reason"] = .string(
                    (metadata["unpriced_reason"]?.stringValue.map { $0 + "; " } ?? "")
                        + "the agent reported a cost of 0 for \(tokens) tokens")
            }
            metadata["amount_source"] = .string(source)
            return try? CostRecord(
                costID: CostID.make(engine.context.ids), executionRequestID: task.executionRequestID,
                projectID: task.projectID, resourceType: .apiCall, resourceName: usage.model ?? options.agent.rawValue,
                amount: amount, currency: currency, recordedAt: now, metadata: metadata)
        }
    }

    /// What ties an attempt's cost to its agent, task, claim and workstream: budgets and reports read it.
    func attributes(task: TaskRecord, attempt: TaskAttempt) -> [String: JSONValue] {
        var metadata: [String: JSONValue] = [
            "agent": .string(options.agent.rawValue), "task_id": .string(task.taskID.description),
            "worker_id": .string(attempt.workerID.description), "epoch": .number(Decimal(attempt.epoch)),
            "attempt": .number(Decimal(attempt.attempt)),
        ]
        if let workstream = task.workstreamID { metadata["workstream_id"] = .string(workstream) }
        return metadata
    }

    /// An attempt that ran with an estimate held for it but reported no usage the adapter could read
    /// (none printed, or lines it had to throw away) is one unpriced record: its cost is unknown, so
    /// its claim's hold is counted in its place. Nil when nothing is held for the claim.
    func unreportedUsage(task: TaskRecord, attempt: TaskAttempt) async -> CostRecord? {
        let held = try? await engine.context.storage.read { tx in
            try tx.budgetHolds(taskID: task.taskID).first { $0.epoch == attempt.epoch }
        }
        guard let held, held.parts.contains(where: { $0.amount.units > 0 }) else { return nil }
        var metadata = attributes(task: task, attempt: attempt)
        metadata["amount_source"] = .string("unpriced")
        metadata["unpriced_reason"] = .string("the agent reported no usage that could be read")
        return try? CostRecord(
            costID: CostID.make(engine.context.ids), executionRequestID: task.executionRequestID,
            projectID: task.projectID, resourceType: .apiCall, resourceName: options.agent.rawValue, amount: nil,
            currency: held.currency, recordedAt: engine.context.clock.now(), metadata: metadata)
    }

    // MARK: - Helpers

    /// bubblewrap reports a command killed by a signal as the exit code 128 + the signal.
    static func signal(inSealedExit code: Int32?) -> Int32? {
        guard let code, code > 128, code < 128 + 65 else { return nil }
        return code - 128
    }

    /// Sluice's environment without what opens the ledger: an agent never gets the database's address
    /// or password.
    static func agentEnvironment(_ inherited: [String: String] = ProcessInfo.processInfo.environment) -> [String:
        String]
    {
        inherited.filter { key, _ in
            !(key.hasPrefix("SLUICE_") || key.hasPrefix("PG") || key == "DATABASE_URL")
        }
    }

    static func commitMessage(_ task: TaskRecord) -> String {
        let first = task.prompt.split(whereSeparator: \.isNewline).first.map(String.init) ?? "task"
        let title = first.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "#"))
            .trimmingCharacters(in: .whitespaces)
        return (title.count > 72 ? String(title.prefix(72)) : title) + "\n\nTask \(task.taskID)\n"
    }

    static func describe(_ error: any Error) -> String {
        (error as? SluiceError)?.message ?? "\(error)"
    }

    /// The size of an open file, by fstat (no path lookup).
    static func size(of handle: FileHandle) -> UInt64 {
        var info = stat()
        return fstat(handle.fileDescriptor, &info) == 0 ? UInt64(info.st_size) : 0
    }

    /// The last `limit` bytes of a file, as text.
    static func tail(of path: String, limit: Int) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let size = Self.size(of: handle)
        if size > UInt64(limit) { try? handle.seek(toOffset: size - UInt64(limit)) }
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }

    /// The end of `text`, at most `bytes` long, on one line.
    static func lastLines(_ text: String, bytes: Int) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let end =
            trimmed.utf8.count > bytes ? "…" + String(decoding: trimmed.utf8.suffix(bytes), as: UTF8.self) : trimmed
        return end.split(whereSeparator: \.isNewline).joined(separator: " | ")
    }
}

/// Reads a growing log from where it stopped, in whole lines.
struct LineReader {
    let path: String
    private var handle: FileHandle?
    private var partial: [UInt8] = []
    /// Bytes read so far.
    private var offset: UInt64 = 0
    /// A line longer than this is cut into pieces of this size.
    static let maxLine = 64 << 10

    init(path: String) { self.path = path }

    /// The bytes that came since the last call, and the whole lines among them.
    mutating func readNew() -> (bytes: Int, lines: [Substring]) {
        if handle == nil { handle = FileHandle(forReadingAtPath: path) }
        guard let handle else { return (0, []) }
        // Nothing new is the common case: a size check costs no buffer.
        guard Supervisor.size(of: handle) > offset else { return (0, []) }
        var lines: [Substring] = []
        var count = 0
        // At most 4 MiB a look, in 64 KiB reads.
        while count < 4 << 20, let data = try? handle.read(upToCount: 64 << 10), !data.isEmpty {
            count += data.count
            for byte in data {
                if byte == 10 || partial.count >= Self.maxLine {
                    lines.append(Substring(String(decoding: partial, as: UTF8.self)))
                    partial.removeAll(keepingCapacity: true)
                    if byte == 10 { continue }
                }
                partial.append(byte)
            }
        }
        offset += UInt64(count)
        return (count, lines)
    }
}
