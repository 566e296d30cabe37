import Foundation
import SluiceCore
import SluiceStore

/// The merge queue's batches (`merge_queue.batch_size` above 1): several queued patches stacked, one
/// commit each, gated once at the top, and landed together with one compare-and-swap; on a failure,
/// ``BatchMachine`` bisects for the patch whose addition fails.
extension Pipeline {
    /// A patch of a batch, applied on the commit below it and committed there (provisionally: the
    /// landing makes its commit anew, with the trailers of the gate run that tested it).
    struct StackedPatch {
        let entry: PatchLedgerEntry
        let source: PatchSource
        /// The commit below it: the branch's head for the first, else the patch below's commit.
        let base: String
        let commit: String
        let tree: String
        let files: [String]

        var id: LedgerID { entry.ledgerID }
    }

    /// What one gate run on a stack found.
    struct StackVerdict {
        let passed: Bool
        let verdicts: [GateVerdict]
        let reason: String
        let gateIDs: [GateID]
        /// Set when the stack failed and the target branch fails the gate without it too: why.
        var red: String?
        /// Set when the failure is a speculative run's alone (no rerun of it): the stack has not failed
        /// alone in the run's own workspace.
        var speculative = false
    }

    /// Whether a queued patch may share a batch: an urgent patch goes alone, ahead of any batch; so do
    /// a revert and a patch a person approved, whose gates check which tests may be gone.
    func batchable(_ entry: PatchLedgerEntry, priority: PatchPriority) async throws -> Bool {
        guard priority != .urgent, entry.relations.rollbackOfPatchID == nil else { return false }
        return try await engine.patches.approver(of: entry.ledgerID) == nil
    }

    /// Gates `batch` (queued patches, in queue order) on `head`, in batches of `merge_queue.batch_size`.
    /// Each patch is applied on the one below it and committed; one that does not apply, or that the
    /// inspection refuses, ends its course as it would alone and leaves the batch. Each batch is gated
    /// at its top: passed, it lands with one compare-and-swap. Failed, ``BatchMachine`` bisects over
    /// its prefixes: the longest passing prefix lands, the patch whose addition fails is quarantined
    /// with the failing run on record, and the patches above it go back to the queue, to be stacked
    /// again on the new head by the next batch.
    ///
    /// With more than one batch (`max_parallel`), the first gate runs of every batch's top go at once,
    /// each in its own workspace, every batch stacked on those below it as if they will pass. The
    /// batches are settled lowest first, each as soon as its run has ended: one whose run passed lands
    /// on it; one whose run failed stops the runs above it at once, and is gated again alone (a
    /// failure there could be the concurrency's or the workspace's) before anyone is blamed. Once a
    /// batch does not land whole, what was stacked on it goes back to the queue.
    func processBatch(
        _ batch: [PatchLedgerEntry], configuration: (SluiceConfig, String),
        bubblewrap available: Result<String, SandboxUnavailable>, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        let (config, head) = configuration
        let bubblewrap = try sealing(config, available: available) { _ in }
        let stack = try await stackUp(batch, on: head, config: config, bubblewrap: bubblewrap, &summary, emit: emit)
        guard !stack.isEmpty else { return }
        let size = max(config.mergeQueue.batchSize, 1)
        let segments = stride(from: 0, to: stack.count, by: size).map {
            Array(stack[$0..<min($0 + size, stack.count)])
        }
        guard segments.count > 1, !config.gates.isEmpty else {
            _ = try await settle(stack, on: head, config: config, bubblewrap: bubblewrap, &summary, emit: emit)
            return
        }
        let tasks = try await startSpeculativeRuns(segments, on: head, config: config, bubblewrap: bubblewrap)
        summary.gateRuns += segments.count
        // The runs are tasks of their own: a run stopped (interrupted) while it waits stops them too.
        try await withTaskCancellationHandler {
            var base = head
            // The segments whose runs were stopped (or dropped): gated anew if they are reached.
            var stopped = 0..<0
            for (index, segment) in segments.enumerated() {
                let first: SpeculativeRun?
                if stopped.contains(index) {
                    first = nil
                } else {
                    do {
                        first = try await tasks[index].value
                    } catch {
                        try await stop(index..<segments.count, tasks, of: segments, &stopped, &summary, emit: emit)
                        throw error
                    }
                }
                summary.gateSeconds += first?.seconds ?? 0
                if let first, !first.passed, let top = segment.last {
                    // What stands on it can no longer matter: stopped before this batch is judged.
                    emit(
                        PipelineEvent(
                            step: "gate", ledgerID: top.id, outcome: "failed",
                            message: "speculative gate run of patch \(top.id) (batch of \(segment.count)) did not "
                                + "pass: \(first.reason); bisected alone, and a blame that rests on this run is "
                                + "checked alone first",
                            seconds: first.seconds))
                    try await stop(index + 1..<segments.count, tasks, of: segments, &stopped, &summary, emit: emit)
                }
                let landed: String?
                do {
                    landed = try await settle(
                        segment, on: base, reusing: first, config: config, bubblewrap: bubblewrap, &summary,
                        emit: emit)
                } catch {
                    // No gate is left running in a workspace the run is about to remove.
                    try? await stop(index + 1..<segments.count, tasks, of: segments, &stopped, &summary, emit: emit)
                    throw error
                }
                guard let landed else {
                    // It did not land whole: what was gated on top of it is stacked again by the next turn.
                    try await stop(index + 1..<segments.count, tasks, of: segments, &stopped, &summary, emit: emit)
                    try await sendBack(
                        Array(segments.dropFirst(index + 1).joined()), code: "batch_culprit",
                        message: "the batch below it did not land whole; stacked again on the new head", &summary,
                        emit: emit)
                    return
                }
                base = landed
            }
        } onCancel: {
            for task in tasks { task.cancel() }
        }
    }

    /// Settles one batch stacked on `head`: gates it (its first run given by `reusing`, when its gates
    /// ran speculatively), lands it or bisects it. Returns the new head when all of it landed; nil when
    /// it did not (a culprit, a red branch, a moved branch), the rest of it back in the queue.
    func settle(
        _ stack: [StackedPatch], on head: String, reusing first: SpeculativeRun? = nil, config: SluiceConfig,
        bubblewrap: String?, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws -> String? {
        var machine = BatchMachine(stack.map(\.id))
        var base = head
        var reuse = first?.records ?? []
        var passing: [Int: StackVerdict] = [:]
        var failing: [Int: StackVerdict] = [:]
        // The gates that passed on `head` alone, in a check after a failure: not checked again.
        var greenOnHead: Set<String> = []
        var actions = machine.start()
        while !actions.isEmpty {
            // A culprit found at the top rests on the whole stack failing; a speculative run's failure
            // alone (beside other gates, in another workspace) blames no one: the stack is gated alone.
            if failing[stack.count]?.speculative == true,
                actions.contains(where: {
                    if case .quarantine(_, let below) = $0 { below.count == stack.count - 1 } else { false }
                })
            {
                let alone = try await gateStack(
                    stack, base: head, of: stack.count, config: config, bubblewrap: bubblewrap, anew: true,
                    greenOnBase: &greenOnHead, &summary, emit: emit)
                if let red = alone.red {
                    summary.redBranch = red
                    try await sendBack(stack, code: "target_red", message: "not blamed: \(red)", &summary, emit: emit)
                    return nil
                }
                if alone.passed {
                    passing[stack.count] = alone
                    actions = [.land(stack.map(\.id)), .finished]
                } else {
                    failing[stack.count] = alone
                }
            }
            var input: BatchMachine.Input?
            for action in actions {
                switch action {
                case .gate(let ids):
                    let verdict = try await gateStack(
                        Array(stack.prefix(ids.count)), base: head, of: stack.count, config: config,
                        bubblewrap: bubblewrap, anew: machine.gateRuns > 1, reusing: reuse, greenOnBase: &greenOnHead,
                        &summary, emit: emit)
                    reuse = []
                    if let red = verdict.red {
                        // No patch is blamed on a red branch: the whole batch waits in the queue.
                        summary.redBranch = red
                        try await sendBack(
                            stack, code: "target_red", message: "not blamed: \(red)", &summary, emit: emit)
                        return nil
                    }
                    if verdict.passed { passing[ids.count] = verdict } else { failing[ids.count] = verdict }
                    input = verdict.passed ? .passed : .failed
                case .land(let ids):
                    guard let verdict = passing[ids.count] else {
                        // Never: the machine lands only a stack a gate run passed. The run stops, and the
                        // next one's recovery sends the stacked patches back to the queue.
                        throw SluiceError(
                            code: .blocked,
                            message: "merge queue batch: no passing gate run of the \(ids.count) to land")
                    }
                    guard
                        let landed = try await landStack(
                            Array(stack.prefix(ids.count)), on: base, above: Array(stack.dropFirst(ids.count)),
                            verdict: verdict, config: config, &summary, emit: emit)
                    else { return nil }
                    base = landed
                case .quarantine(let id, let below):
                    let reason =
                        failing[below.count + 1].map { "\($0.reason)" } ?? "the gates failed with it on its batch"
                    try await setAsideCulprit(
                        stack[below.count], below: below.count, reason: reason, &summary, emit: emit)
                    // What was stacked on it goes back to the queue: the next batch stacks it on the new head.
                    try await sendBack(
                        Array(stack.dropFirst(below.count + 1)), code: "batch_culprit",
                        message: "patch \(id) below it failed the gates; stacked again without it", &summary,
                        emit: emit)
                    return nil
                case .finished:
                    return base
                case .refuse(let refusal):
                    throw SluiceError(code: .blocked, message: "merge queue batch: \(refusal)")
                }
            }
            guard let input else { return nil }
            actions = machine.receive(input)
        }
        return nil
    }

    /// Applies each patch on the one below it (the first on `head`) and commits it there. A patch that
    /// does not apply or is refused ends its course as it would alone and is left out; the next is
    /// stacked on the last that stayed.
    func stackUp(
        _ batch: [PatchLedgerEntry], on head: String, config: SluiceConfig, bubblewrap: String?,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws -> [StackedPatch] {
        var stack: [StackedPatch] = []
        for queued in batch {
            let base = stack.last?.commit ?? head
            var course = LandingCourse(
                machine: LandingMachine(landingPlan(queued.ledgerID, base: base, config: config, stackOnly: true)),
                config: config, bubblewrap: bubblewrap)
            let source = try await engine.context.storage.patchSource(queued.ledgerID)
            course.source = source
            try await execute(
                &course, from: .start(LandingMachine.Start(source: source, sandboxProblem: nil)), &summary, emit: emit)
            guard case .finished(.stacked(let commit, let tree)) = course.machine.state, let entry = course.entry,
                let source
            else { continue }
            stack.append(
                StackedPatch(
                    entry: entry, source: source, base: base, commit: commit, tree: tree,
                    files: course.changedPaths ?? []))
        }
        return stack
    }

    /// Runs the configured gates on the workspace at the top of `stack` (the first `stack.count` of a
    /// batch of `size` stacked on `base`), as TestGate records of its top patch that name every patch
    /// they tested. The gates must leave the tested tree as they found it, or the run fails. The runs
    /// in `reusing` (the stack's speculative first runs, in the configured order) stand for the gates
    /// they ran, and are judged as if they had just ended.
    func gateStack(
        _ stack: [StackedPatch], base: String, of size: Int, config: SluiceConfig, bubblewrap: String?,
        anew: Bool, reusing reuse: [TestGateRecord] = [], greenOnBase: inout Set<String>,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws -> StackVerdict {
        guard let top = stack.last else { return StackVerdict(passed: true, verdicts: [], reason: "", gateIDs: []) }
        // A speculative run was told which tests must run by the branch as it was then; the batches
        // below it have landed since, with tests of their own. A run that left out one of those is
        // not reused: the gates run again here, on the branch as it is.
        // Tests quarantined then may have been released since, as the batches below landed: a passing
        // run is judged again, by its own results, as a run ending now would be.
        var reuse = reuse
        for (index, gate) in config.gates.enumerated() where reuse.indices.contains(index) {
            let record = reuse[index]
            guard record.state == .passed, let results = record.results, results.reportsTests else { continue }
            let needed = try await mustRun(gate.name, on: base, for: top.entry)
            let excused = try await engine.testQuarantines(gate: gate.name).map(\.test)
            if !record.criteria.evaluate(results, mustRun: needed, excused: excused).passed {
                reuse = Array(reuse.prefix(index))
                break
            }
        }
        // All passed where they ran, which checked the tree they left: nothing to run here.
        let ranAll = reuse.count == config.gates.count && reuse.allSatisfy { $0.state == .passed }
        // A workspace a gate ran in is made anew: what that gate left there (a `.gitattributes`, say)
        // would otherwise act on the checkout of the next stack.
        let workspace = anew && !ranAll ? try await recreateWorkspace(at: top.commit) : workspacePath
        if !anew && !ranAll {
            try await git.checked(["clean", "-ffdxq"], in: workspace)
            try await git.checked(["checkout", "--quiet", "--force", "--detach", top.commit], in: workspace)
            try await git.checked(["clean", "-ffdxq"], in: workspace)
        }
        summary.gateRuns += config.gates.isEmpty || !reuse.isEmpty ? 0 : 1
        let tested = stack.map { JSONValue.string($0.id.description) }
        let what = stack.count == 1 ? "alone" : "with the \(stack.count - 1) below it"
        var verdicts: [GateVerdict] = []
        var gateIDs: [GateID] = []
        for (index, gate) in config.gates.enumerated() {
            let mustRun = try await mustRun(gate.name, on: base, for: top.entry)
            let metadata: [String: JSONValue] = ["batch": .array(tested), "batch_size": .number(Decimal(size))]
            let (first, seconds) =
                reuse.indices.contains(index)
                ? (reuse[index], 0)
                : try await GateRunner(engine: engine, runner: processes, inherited: inheritedEnvironment()).run(
                    gate, for: top.entry, in: workspace, logDirectory: path("logs", top.id.description),
                    config: config, sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap),
                    cache: gateCachePath, mustRun: mustRun, metadata: metadata)
            // A speculative run's failure is not rerun here: what it says is checked by runs alone (the
            // bisection's probes, and the whole batch before its top is blamed), which are judged.
            let judged =
                reuse.indices.contains(index)
                ? FailureJudgement(
                    record: first, seconds: 0, runs: 0, blame: first.decision?.reason ?? first.state.rawValue)
                : try await judge(
                    failed: first, index: index, for: top.entry, tested: GatedTree(commit: top.commit), base: base,
                    config: config, bubblewrap: bubblewrap, mustRun: mustRun, metadata: metadata,
                    greenOnBase: &greenOnBase, emit: emit)
            summary.gateSeconds += seconds + judged.seconds
            summary.gateRuns += judged.runs
            let record = judged.record
            // A speculative run was counted when it ended; shown with its own time.
            let took = reuse.indices.contains(index) ? first.execution.durationSeconds ?? 0 : seconds
            gateIDs.append(record.gateID)
            let verdict = GateVerdict(
                name: gate.name, state: record.state,
                reason: judged.flakyTests.map { "passed on a rerun; flaky: \(Self.list($0))" }
                    ?? (record.state == .passed ? record.decision?.reason : judged.blame),
                passedTests: record.results?.passedTests, totalTests: record.results?.totalTests, seconds: took,
                flakyTests: judged.flakyTests)
            verdicts.append(verdict)
            emit(
                PipelineEvent(
                    step: "gate", ledgerID: top.id, outcome: record.state.rawValue,
                    message: "\(gate.name) on patch \(top.id) \(what) (batch of \(size))"
                        + (reuse.indices.contains(index) ? ", gated speculatively" : "") + ": \(verdict.reason ?? "")",
                    seconds: took))
            if let red = judged.red {
                return StackVerdict(passed: false, verdicts: verdicts, reason: red, gateIDs: gateIDs, red: red)
            }
            guard record.state == .passed else {
                var failed = StackVerdict(
                    passed: false, verdicts: verdicts,
                    reason: "gate \(gate.name) \(record.state.rawValue) with this patch "
                        + (stack.count == 1
                            ? "alone on the branch" : "on top of \(stack.count - 1) patches of its batch")
                        + ": \(verdict.reason ?? "")", gateIDs: gateIDs)
                failed.speculative = reuse.indices.contains(index) && judged.runs == 0
                return failed
            }
        }
        if ranAll {
            return StackVerdict(passed: true, verdicts: verdicts, reason: "all gates passed", gateIDs: gateIDs)
        }
        // What lands is what was tested: the gates may not have changed the tracked files they ran on.
        let untouched = try await git.run(
            ["diff", "--quiet", "--no-ext-diff", "--no-textconv", top.tree], in: workspace)
        guard untouched.succeeded else {
            return StackVerdict(
                passed: false, verdicts: verdicts,
                reason: "the gates changed tracked files they tested with this patch on top of its batch",
                gateIDs: gateIDs)
        }
        return StackVerdict(passed: true, verdicts: verdicts, reason: "all gates passed", gateIDs: gateIDs)
    }

    /// Lands `prefix`, which a gate run passed at its top, on `base` with one compare-and-swap: each
    /// patch's commit is made anew on the one below it (the same trees, so the top's tree is the
    /// tested one) with trailers naming the gate run that tested it. Returns the new head; nil when
    /// the branch moved since the batch was stacked, in which case every stacked patch (`prefix` and
    /// `above`) goes back to the queue as a patch alone would.
    func landStack(
        _ prefix: [StackedPatch], on base: String, above: [StackedPatch], verdict: StackVerdict, config: SluiceConfig,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws -> String? {
        let branch = config.targetBranch
        guard try await git.commit(of: "refs/heads/\(branch)") == base else {
            try await sendBack(
                prefix + above, code: "branch_moved", message: "\(branch) moved while the gates ran; re-applying",
                counting: config.policy, &summary, emit: emit)
            return nil
        }
        guard let top = prefix.last else { return base }
        var commits: [String] = []
        for (index, patch) in prefix.enumerated() {
            let authorship = try await authorship(of: patch.source)
            var message = commitMessage(
                patch.entry, source: patch.source, authorship: authorship, verdicts: verdict.verdicts)
            message += "\n" + verdict.gateIDs.map { "Sluice-Gate-Run: \($0)" }.joined(separator: "\n")
            message +=
                index == prefix.count - 1
                ? "\nSluice-Batch: top of \(prefix.count): the gates ran on this commit's tree"
                : "\nSluice-Batch: \(index + 1) of \(prefix.count): tested at the top, patch \(top.id)"
            let parent = commits.last ?? base
            commits.append(
                try await git.checked(
                    ["commit-tree", patch.tree, "-p", parent, "-F", "-"], input: Array(message.utf8),
                    environment: authorship?.environment ?? [:]))
        }
        // All verified in one unit, or none: a batch is never left half verified, so recovery never
        // finds a prefix of it to land that the gates did not run on.
        try await engine.patches.verifiedBatch(
            prefix.enumerated().map { index, patch in
                (
                    patch.id, index == 0 ? base : commits[index - 1], commits[index],
                    index == prefix.count - 1
                        ? "all gates passed" : "all gates passed at the top of its batch (patch \(top.id))"
                )
            })
        // The branch moves first; a checkout with uncommitted changes stops the run before it does.
        let status = try await git.checkedBytes(["status", "--porcelain=v2", "--branch", "--untracked-files=no", "-z"])
        let checkout = GitReadings.checkout(status)
        let checkedOut = checkout.branch == branch
        if checkedOut, !checkout.changes.isEmpty {
            throw SluiceError(
                code: .blocked,
                message: "cannot land a batch of \(prefix.count): \(branch) is checked out in \(repository) with "
                    + "uncommitted changes (\(checkout.changes.count) files); stash them (git stash) and run again: "
                    + "its patches stay verified, and a commit on \(branch) would move it, so that they would have "
                    + "to be resubmitted")
        }
        let landed = commits[commits.count - 1]
        let swapped = try await git.run([
            "update-ref", "-m", "sluice: land a batch of \(prefix.count) (top \(top.id))", "refs/heads/\(branch)",
            landed, base,
        ])
        guard swapped.succeeded else {
            let reason = "\(branch) moved while the batch was landing; resubmit it"
            for patch in prefix { try await setAside(patch.id, reason: reason, step: "land", &summary, emit: emit) }
            try await sendBack(
                above, code: "branch_moved", message: reason, counting: config.policy, &summary, emit: emit)
            return nil
        }
        for (index, patch) in prefix.enumerated() {
            configurationMemo.carry(
                from: index == 0 ? base : commits[index - 1], to: commits[index], changing: patch.files)
            _ = try await engine.patches.committed(patch.id, landed: commits[index])
            configurationMemo.remember(landed: commits[index], by: patch.id)
            summary.landed.append(patch.id.description)
            emit(
                PipelineEvent(
                    step: "land", ledgerID: patch.id, outcome: "landed",
                    message: "\(branch) is now \(landed.prefix(12)) (\(index + 1) of a batch of \(prefix.count))"))
        }
        if checkedOut { try await moveCheckout(from: base, to: landed) }
        // One run tested the batch: it counts once, toward the quarantined tests' release.
        try await engine.countTowardRelease(landed: top.id, releaseAfter: config.flaky.releaseAfter)
        return landed
    }

    /// The patch whose addition fails its batch's gates: verification failed, then quarantined.
    func setAsideCulprit(
        _ patch: StackedPatch, below: Int, reason: String, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        _ = try await engine.patches.verify(patch.id, passed: false, reason: reason)
        try await setAside(patch.id, reason: reason, &summary, emit: emit)
    }

    /// Stacked patches back to the queue. With `counting`, as a failed attempt: quarantined once its
    /// policy's attempts are used up (the branch moved, as for a patch alone); else only for a new place
    /// in a batch.
    func sendBack(
        _ patches: [StackedPatch], code: String, message: String, counting policy: PatchPolicy? = nil,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        for patch in patches {
            let failed = try await engine.patches.applyFailed(patch.id, code: code, message: message)
            if let policy {
                try await retryOrQuarantine(failed, policy: policy, reason: message, &summary, emit: emit)
            } else {
                _ = try await engine.patches.queue(patch.id)
                summary.requeued += 1
                emit(PipelineEvent(step: "requeue", ledgerID: patch.id, outcome: "queued", message: message))
            }
        }
    }
}
