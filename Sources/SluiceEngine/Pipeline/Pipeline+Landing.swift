import Foundation
import SluiceCore
import SluiceStore

extension Pipeline {
    /// Processes the queue in order until it is empty (or, with `watch`, until cancelled).
    /// Recovers from an interrupted run first. Only one run may work on a repository at a time.
    ///
    /// Gates run sealed as `sluice.yml`'s `sandbox:` says (one `warning` event when `auto` finds no
    /// bubblewrap). Unsealed, what a gate detached from its session is killed only if the host made
    /// this process a child subreaper first (``OrphanReaper/adoptOrphans()``, as `sluice run` does).
    ///
    /// - Throws: `blocked` when `sandbox: bubblewrap` is set and bubblewrap cannot seal here, or when
    ///   another run holds the repository's run lock (on a shared database, any host's run on the
    ///   same project and branch).
    ///
    /// - Parameter stop: with `watch`, asked whenever the queue is empty: the run ends once it says
    ///   yes (`sluice run --workers` ends when its supervisor has, and the queue is empty).
    public func run(
        watch: Bool = false, until stop: (@Sendable () -> Bool)? = nil, emit: @Sendable (PipelineEvent) -> Void
    ) async throws -> PipelineSummary {
        let lock = try RunLock(path: path("run.lock"))
        defer { lock.release() }
        // A SQLite file that clones share (SLUICE_DB, --db) is locked beside it: runs of two clones on
        // one ledger would each take the other's patch in flight, and its gate hold, for a killed run's.
        let ledgerLock = try (engine.context.storage as? SQLiteStorage)?.path.map {
            try RunLock(path: $0 + ".run.lock", what: "this database, from another clone")
        }
        defer { ledgerLock?.release() }
        // On a database that hosts share, the branch is also locked there: two hosts never land at once.
        let shared = try await sharedRunLock()
        do {
            let summary = try await runLocked(watch: watch, until: stop, emit: emit)
            await shared?.release()
            return summary
        } catch {
            await shared?.release()
            throw error
        }
    }

    /// The run's lock on a shared database (nil on one that is not shared), named by the project
    /// (its first commit, the same in every clone) and the target branch.
    ///
    /// - Throws: `blocked` when another run, on this host or another, holds it.
    package func sharedRunLock() async throws -> (any HeldLock)? {
        guard let shared = engine.context.storage as? any SharedLocking else { return nil }
        let (config, _) = try await configuration()
        let roots = try? await git.checked(["rev-list", "--max-parents=0", "refs/heads/\(config.targetBranch)"])
        let project = roots?.split(separator: "\n").sorted().first.map(String.init) ?? repository
        let name = "sluice run \(project) \(config.targetBranch)"
        guard let held = try await shared.tryLock(name) else {
            throw SluiceError(
                code: .blocked,
                message: "another sluice run, on this host or another, is landing on \(config.targetBranch) of this "
                    + "project with this database; wait for it to finish")
        }
        return held
    }

    private func runLocked(
        watch: Bool, until stop: (@Sendable () -> Bool)?, emit: @Sendable (PipelineEvent) -> Void
    ) async throws -> PipelineSummary {
        var summary = PipelineSummary()
        // Sealed or not is decided (and warned about) once, before anything moves.
        let bubblewrap = await locateBubblewrap()
        _ = try sealing(try await configuration().0, available: bubblewrap, emit: emit)
        do {
            try await processQueue(watch: watch, until: stop, bubblewrap: bubblewrap, &summary, emit: emit)
        } catch {
            try? await removeWorkspace()
            await removeSlots()
            // A cancelled run's git commands fail in any number of ways; what happened is the cancellation.
            throw Task.isCancelled ? CancellationError() : error
        }
        try await removeWorkspace()
        await removeSlots()
        return summary
    }

    func processQueue(
        watch: Bool, until stop: (@Sendable () -> Bool)? = nil, bubblewrap: Result<String, SandboxUnavailable>,
        _ summary: inout PipelineSummary,
        emit: @Sendable (PipelineEvent) -> Void
    ) async throws {
        try await recover(&summary, emit: emit)
        // The refusal a watching run waits on, said once.
        var waitingOnBudget: String?
        // Patches whose gates a hard budget could not cover since the last one processed, with why: the
        // run goes on with other projects' patches (their budgets may have room). Not with later
        // patches of the same project: one may need the refused one's change, and trying it first
        // would spend its attempts on a conflict that is only a matter of order.
        var refused: [LedgerID: String] = [:]
        var refusedProjects: Set<String> = []
        // A target branch that fails its own gate (found by a failure's check, by this run or an
        // earlier one): only urgent patches go, alone, until a check of the branch's head passes.
        var red = try await redBranch()
        while !Task.isCancelled {
            // Asked before the queue is read: a patch queued before the answer was yes is in the list below.
            let finishing = stop?() ?? false
            // Patches whose submission stopped before validation are validated here; recent ones are
            // left to their own submission. If one still validates it first, this finds it moved on.
            let settled = engine.context.clock.now().adding(milliseconds: -30_000)
            for created in try await engine.patches.list(PatchFilter(state: .created)).reversed()
            where created.createdAt < settled {
                guard try await engine.context.storage.patchSource(created.ledgerID) != nil else { continue }
                do {
                    note(try await validate(created.ledgerID), &summary, emit: emit)
                } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                    continue
                }
            }
            let priorities = try await engine.context.storage.patchPriorities(state: .queued)
            let queue = queueOrder(try await engine.patches.list(PatchFilter(state: .queued)), priorities)
            // A patch that did not apply waits until the branch moves; when every queued patch waits on
            // the head as it is, nothing can move it and none of them will ever apply.
            let (config, head) = try await configuration()
            var ready: [PatchLedgerEntry] = []
            for entry in queue where !waits(on: head, entry) {
                switch try await chainStanding(entry) {
                case .ready: ready.append(entry)
                case .waiting: continue
                case .broken(let earlier):
                    try await setAside(
                        entry.ledgerID,
                        reason: "patch \(earlier), earlier in its chain, did not land; resubmit the chain",
                        &summary, emit: emit)
                }
            }
            var candidate = ready.first { refused[$0.ledgerID] == nil && !refusedProjects.contains($0.projectID) }
            if var known = red, let first = candidate {
                if known.head != head || !known.checked {
                    // The branch moved, or this run has not checked it yet: its gates run on it alone.
                    known = RedBranch(head: head, checked: true, reason: known.reason)
                    if let reason = try await checkBranch(
                        head, config: config, for: first, bubblewrap: bubblewrap, &summary, emit: emit)
                    {
                        known.reason = reason
                    } else {
                        red = nil
                        summary.redBranch = nil
                    }
                }
                if red != nil {
                    red = known
                    // An urgent patch held back on this red head (by this run or an earlier one) is not
                    // tried again until the head moves.
                    let heldHere = " at \(head.prefix(12)) "
                    candidate = ready.first {
                        priorities[$0.ledgerID] == .urgent && !known.heldBack.contains($0.ledgerID)
                            && !($0.apply.lastErrorCode == "target_red"
                                && $0.apply.lastErrorMessage?.contains(heldHere) == true)
                            && refused[$0.ledgerID] == nil && !refusedProjects.contains($0.projectID)
                    }
                    if candidate == nil {
                        summary.redBranch = known.reason
                        guard watch, !finishing else { break }
                        try await Task.sleep(for: stop == nil ? .seconds(5) : .milliseconds(200))
                        continue
                    }
                }
            }
            guard let next = candidate else {
                if let first = ready.first(where: { refused[$0.ledgerID] != nil }), let reason = refused[first.ledgerID]
                {
                    // Every patch that could go is refused on a budget: a watching run waits for a budget
                    // (or its window) to change; any other stops, and says which budget stopped it.
                    if watch, stop == nil {
                        if waitingOnBudget != reason {
                            emit(
                                PipelineEvent(
                                    step: "budget", ledgerID: first.ledgerID, outcome: "waiting", message: reason))
                        }
                        waitingOnBudget = reason
                        try await Task.sleep(for: .seconds(5))
                        refused = [:]
                        refusedProjects = []
                        continue
                    }
                    summary.budgetStop = reason
                    emit(PipelineEvent(step: "budget", ledgerID: first.ledgerID, outcome: "stopped", message: reason))
                    break
                }
                // A patch held for review may still be approved and move the branch: those waiting stay.
                let held = try await !engine.patches.list(PatchFilter(state: .validated)).isEmpty
                for entry in queue where waits(on: head, entry) && !held {
                    let reason =
                        "does not apply to the target branch at \(head.prefix(12)), and no patch ahead of it could "
                        + "change that: rebase it and resubmit (\(entry.apply.lastErrorMessage ?? "conflict"))"
                    try await setAside(entry.ledgerID, reason: reason, &summary, emit: emit)
                }
                if watch, !finishing {
                    try await Task.sleep(for: stop == nil ? .seconds(1) : .milliseconds(200))
                    continue
                }
                break
            }
            if config.mergeQueue.patchesPerTurn > 1, red == nil {
                // The patches that can go next, in queue order, up to the first that must go alone: a
                // batch, or with speculative gates (max_parallel), several batches stacked.
                var batch: [PatchLedgerEntry] = []
                for entry in ready.drop(while: { $0.ledgerID != next.ledgerID })
                where batch.count < config.mergeQueue.patchesPerTurn {
                    if refused[entry.ledgerID] != nil || refusedProjects.contains(entry.projectID) { continue }
                    guard try await batchable(entry, priority: priorities[entry.ledgerID] ?? .normal) else { break }
                    batch.append(entry)
                }
                // A watching run gives a batch that is not full a while to fill.
                let queuedFor =
                    engine.context.clock.now().milliseconds - (batch.map(\.updatedAt).min()?.milliseconds ?? 0)
                if watch, !finishing, !batch.isEmpty, batch.count < config.mergeQueue.batchSize,
                    queuedFor < Int64(config.mergeQueue.batchWaitSeconds) * 1000
                {
                    try await Task.sleep(for: .milliseconds(stop == nil ? 1000 : 200))
                    continue
                }
                if batch.count > 1 {
                    summary.redBranch = nil
                    try await processBatchHolding(
                        batch, configuration: (config, head), bubblewrap: bubblewrap, refused: &refused,
                        refusedProjects: &refusedProjects, waitingOnBudget: &waitingOnBudget, &summary, emit: emit)
                    if let reason = summary.redBranch {
                        // Checked on the head the batches below it landed, not the one this turn began on.
                        let now = try await git.commit(of: "refs/heads/\(config.targetBranch)") ?? head
                        red = RedBranch(head: now, checked: true, reason: reason)
                    }
                    continue
                }
            }
            // What the gates may cost is held on the budgets before they run; a patch a hard budget
            // cannot cover stays queued, and the run goes on with the next (see above).
            let held: GateHold?
            do {
                held = try await engine.budgets.holdGates(
                    for: next, estimate: BudgetService.gateEstimate(config), currency: config.currency,
                    lasting: Self.gateHoldSeconds(config))
                waitingOnBudget = nil
            } catch let error as SluiceError where error.code == .blocked {
                refused[next.ledgerID] = error.message
                refusedProjects.insert(next.projectID)
                continue
            }
            // The budgets change as a patch is done: the refused are asked again.
            refused = [:]
            refusedProjects = []
            do {
                summary.redBranch = nil
                try await process(
                    next.ledgerID, configuration: (config, head), bubblewrap: bubblewrap, &summary, emit: emit)
                if let reason = summary.redBranch {
                    var known =
                        red.flatMap { $0.head == head ? $0 : nil }
                        ?? RedBranch(head: head, checked: true, reason: reason)
                    known.reason = reason
                    known.heldBack.insert(next.ledgerID)
                    red = known
                } else if red != nil, try await engine.lastBranchCheck()?.state == .passed {
                    // The patch's failure checked the branch, and it passed there: it is green again.
                    red = nil
                }
            } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                // Someone else (a `patch drop`, a `patch quarantine`) moved the patch while it was processed.
                emit(PipelineEvent(step: "skip", ledgerID: next.ledgerID, outcome: "changed", message: error.message))
            } catch {
                // Released on the way out; if this fails too (the database is gone), the hold lapses.
                if held != nil { try? await engine.budgets.releaseGates(next.ledgerID) }
                throw error
            }
            if held != nil { try await engine.budgets.releaseGates(next.ledgerID) }
        }
    }

    /// Queued patches in the order the run takes them. First those that can be tried now, the highest
    /// priority first, then the oldest (by submission, so a patch a killed run had in flight keeps its
    /// place); then those whose last attempt did not apply, by priority, then by when it failed: each
    /// may need a patch still in the queue, so everything else goes first, and a retry on every move
    /// of the branch does not use up its attempts before that patch lands.
    ///
    /// - Parameter priorities: the queued patches' priorities that are not normal.
    func queueOrder(_ queued: [PatchLedgerEntry], _ priorities: [LedgerID: PatchPriority]) -> [PatchLedgerEntry] {
        func key(_ entry: PatchLedgerEntry) -> (conflicted: Bool, priority: PatchPriority, time: Timestamp) {
            let conflicted = entry.apply.lastErrorCode == "conflict"
            return (
                conflicted, priorities[entry.ledgerID] ?? .normal, conflicted ? entry.updatedAt : entry.createdAt
            )
        }
        return queued.sorted { first, second in
            let (one, other) = (key(first), key(second))
            if one.conflicted != other.conflicted { return !one.conflicted }
            if one.priority != other.priority { return one.priority > other.priority }
            if one.time != other.time { return one.time < other.time }
            return first.ledgerID.description < second.ledgerID.description
        }
    }

    /// Holds what a batch's gates may cost (one gate run's estimate per patch: bisecting a batch of N
    /// takes at most 2 + log2 N runs) and gates it. A patch a hard budget cannot cover is left out and
    /// passed over, as a patch alone would be; the batch goes on with those held.
    func processBatchHolding(
        _ batch: [PatchLedgerEntry], configuration: (SluiceConfig, String),
        bubblewrap: Result<String, SandboxUnavailable>, refused: inout [LedgerID: String],
        refusedProjects: inout Set<String>, waitingOnBudget: inout String?, _ summary: inout PipelineSummary,
        emit: @Sendable (PipelineEvent) -> Void
    ) async throws {
        let config = configuration.0
        var held: [PatchLedgerEntry] = []
        for entry in batch where !refusedProjects.contains(entry.projectID) {
            do {
                _ = try await engine.budgets.holdGates(
                    for: entry, estimate: BudgetService.gateEstimate(config), currency: config.currency,
                    lasting: Self.gateHoldSeconds(config) * Int64(batch.count))
                held.append(entry)
            } catch let error as SluiceError where error.code == .blocked {
                refused[entry.ledgerID] = error.message
                refusedProjects.insert(entry.projectID)
            }
        }
        guard !held.isEmpty else { return }
        waitingOnBudget = nil
        refused = [:]
        refusedProjects = []
        do {
            try await processBatch(held, configuration: configuration, bubblewrap: bubblewrap, &summary, emit: emit)
        } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
            // Someone moved one of its patches (a `patch drop`) while the batch ran: the others it had
            // applied go back to the queue, to be batched again without it.
            emit(PipelineEvent(step: "skip", ledgerID: held[0].ledgerID, outcome: "changed", message: error.message))
            for entry in held {
                guard let current = try? await engine.patches.get(entry.ledgerID), current.state == .applied else {
                    continue
                }
                _ = try await engine.patches.applyFailed(
                    entry.ledgerID, code: "batch_changed",
                    message: "another patch of its batch was changed while the batch ran: \(error.message)")
                _ = try await engine.patches.queue(entry.ledgerID)
                summary.requeued += 1
            }
        } catch {
            for entry in held { try? await engine.budgets.releaseGates(entry.ledgerID) }
            throw error
        }
        for entry in held { try await engine.budgets.releaseGates(entry.ledgerID) }
    }

    /// How long a gate hold lasts at most: every gate's time limit and grace, and ten minutes for
    /// applying, merging and landing around them.
    static func gateHoldSeconds(_ config: SluiceConfig) -> Int64 {
        BudgetService.gateSeconds(config) + 600
    }

    /// Records a validation that ended the patch (rejected) in the summary.
    func note(_ entry: PatchLedgerEntry, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void) {
        if entry.state == .quarantined {
            let reason = entry.quarantine.quarantineReason ?? "validation failed"
            summary.rejected.append(.init(ledgerID: entry.ledgerID.description, reason: reason))
            emit(PipelineEvent(step: "validate", ledgerID: entry.ledgerID, outcome: "rejected", message: reason))
        } else {
            emit(PipelineEvent(step: "validate", ledgerID: entry.ledgerID, outcome: "ok", message: "queued"))
        }
    }

    /// Applies one queued patch in a fresh workspace at the target's head, runs the gates, and lands
    /// or requeues or quarantines it: the course of a ``LandingMachine``, its actions performed by
    /// ``execute(_:from:_:emit:)``.
    ///
    /// - Parameter configuration: the target branch's configuration and head, as the queue was read.
    func process(
        _ id: LedgerID, configuration: (SluiceConfig, String), bubblewrap available: Result<String, SandboxUnavailable>,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        let (config, base) = configuration
        // Sealed as the configuration of this patch's base says; warned about once, at the run's start.
        var bubblewrap: String?
        var sandboxProblem: SluiceError?
        do {
            bubblewrap = try sealing(config, available: available) { _ in }
        } catch let error as SluiceError {
            sandboxProblem = error
        }
        var landing = LandingCourse(
            machine: LandingMachine(landingPlan(id, base: base, config: config)), config: config,
            bubblewrap: bubblewrap)
        let source = try await engine.context.storage.patchSource(id)
        landing.source = source
        try await execute(
            &landing, from: .start(LandingMachine.Start(source: source, sandboxProblem: sandboxProblem)), &summary,
            emit: emit)
    }

    /// Moves the target branch from `base` to `tested` with a compare-and-swap, records it in the
    /// ledger, and then, when the branch is checked out in a clean working tree, moves that tree too:
    /// the end of a ``LandingMachine``'s course, for a patch a killed run verified.
    /// The branch moves first: a run killed after it leaves at worst a checkout behind its branch,
    /// which the next run repairs (``repairCheckout(branch:emit:)``), never a staged change with no commit.
    ///
    /// - Throws: ``SluiceError`` (`blocked`) when the checked-out tree has uncommitted changes: the
    ///   patch stays verified and nothing is touched; run again once the tree is clean.
    func land(
        _ id: LedgerID, tested: String, base: String, config: SluiceConfig, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        var landing = LandingCourse(
            machine: LandingMachine(landingPlan(id, base: base, config: config)), config: config, bubblewrap: nil)
        try await execute(&landing, from: .resume(tested: tested), &summary, emit: emit)
    }

    /// What a landing of `id` on `base` works with.
    func landingPlan(_ id: LedgerID, base: String, config: SluiceConfig, stackOnly: Bool = false)
        -> LandingMachine.Plan
    {
        LandingMachine.Plan(
            ledgerID: id, base: base, config: config, repository: repository, workspace: workspacePath,
            configFile: ConfigLoader.fileName, stackOnly: stackOnly)
    }

    /// Moves the checked-out working tree and index from one commit's tree to another's, keeping any
    /// change made meanwhile to a file the move does not touch (git refuses to overwrite the others).
    func moveCheckout(from old: String, to new: String) async throws {
        let moved = try await git.run(["read-tree", "-m", "-u", old, new])
        guard moved.succeeded else {
            throw SluiceError(
                code: .blocked,
                message: "the branch landed, but the checkout in \(repository) could not follow it "
                    + "(\(moved.message)); the next `sluice run` repairs it")
        }
    }

    /// The tests a patch's gate must still run: those that passed on the branch at `base`; for a revert,
    /// only those that also passed before its original landed (the tests the original added may go
    /// with it).
    func mustRun(_ gate: String, on base: String, for entry: PatchLedgerEntry) async throws -> [String] {
        // A quarantined test must run too, though it failed there: else a patch could skip it, and it
        // would never pass again to be released.
        let quarantined = try await engine.testQuarantines(gate: gate).map(\.test)
        let passed = try await testsThatPassed(gate, on: base, orRan: quarantined)
        guard let original = entry.relations.rollbackOfPatchID, !passed.isEmpty else { return passed }
        guard let reverted = try await engine.context.storage.patch(patchID: original),
            let originalBase = try await engine.context.storage.patchSource(reverted.ledgerID)?.baseCommit
        else { return [] }
        let before = await Set(try testsThatPassed(gate, on: originalBase, orRan: quarantined))
        return passed.filter(before.contains)
    }

    /// The tests that passed in the last run of a gate on the target branch at `head`: the run of the
    /// patch that landed `head` (named by the commit's `Sluice-Ledger-Id` trailer, and recorded as
    /// landed there). Empty when `head` was not landed by Sluice (a commit made by hand). Looked up
    /// by the patch, not among the newest runs: runs of other patches (failing ones' earlier gates,
    /// checks of the branch) can never push it out of view. Tests named in `orRan` count when they
    /// ran there at all (passed, failed or error).
    func testsThatPassed(_ gate: String, on head: String, orRan: [String] = []) async throws -> [String] {
        // No run of the gate ever passed: nothing to ask git.
        guard try await !engine.gates.list(GateFilter(state: .passed, name: gate, limit: 1)).isEmpty else { return [] }
        guard let ledgerID = try await landedLedger(head) else { return [] }
        let runs = try await engine.gates.list(
            GateFilter(state: .passed, name: gate, ledgerID: ledgerID.description, limit: 50))
        // A check of the branch without the patch is not the patch's run.
        guard let landing = runs.first(where: { $0.metadata["check"] != .string("base") }) else { return [] }
        return (landing.results?.testCases ?? []).filter { test in
            test.status == .passed || (test.status != .skipped && orRan.contains(where: test.matches))
        }.map(\.qualifiedName)
    }

    /// The patch recorded as landed as `head`: the one this run just landed there, else the one its
    /// commit's `Sluice-Ledger-Id` trailer names (checked against the ledger); nil for a commit made by hand.
    func landedLedger(_ head: String) async throws -> LedgerID? {
        if let known = configurationMemo.landed(head) { return known }
        let trailer = try await git.run(
            ["log", "-1", "--no-show-signature", "--format=%(trailers:key=Sluice-Ledger-Id,valueonly)", head])
        guard trailer.succeeded, let line = trailer.line.split(separator: "\n").last,
            let ledgerID = try? LedgerID(parsing: line.trimmingCharacters(in: .whitespaces)),
            try await engine.context.storage.patchSource(ledgerID)?.landedCommit == head
        else { return nil }
        return ledgerID
    }

    /// The tree of `bytes` applied on `madeOn` and merged onto `base` (three ways, with `madeOn` as
    /// the merge base when it is an ancestor of `base`); nil when it does not apply there or conflicts.
    func merge(_ bytes: [UInt8], madeOn: String, onto base: String) async throws -> String? {
        let tree: String? = try await git.withTemporaryIndex(at: madeOn) { environment in
            let applied = try await git.run(
                ["apply", "--cached", "--whitespace=nowarn", "-"], input: bytes, environment: environment)
            return applied.succeeded ? try await git.checked(["write-tree"], environment: environment) : nil
        }
        guard let tree else { return nil }
        let commit = try await git.checked(["commit-tree", tree, "-p", madeOn, "-m", "sluice: the patch on its base"])
        let merged = try await git.run(["merge-tree", "--write-tree", "--no-messages", base, commit])
        guard merged.succeeded else { return nil }
        return String(decoding: merged.stdout.prefix { $0 != 0x0A }, as: UTF8.self)
    }

    /// Whether a queued patch failed to apply on `head` last time: it waits for the branch to move.
    func waits(on head: String, _ entry: PatchLedgerEntry) -> Bool {
        entry.apply.lastErrorCode == "conflict"
            && entry.apply.lastErrorMessage?.hasPrefix("does not apply on \(head):") == true
    }

    /// Quarantines a patch and reports it: in the run's summary and as a pipeline event of `step`.
    func setAside(
        _ id: LedgerID, reason: String, step: String = "quarantine", _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        try await quarantine(id, reason: reason)
        summary.quarantined.append(.init(ledgerID: id.description, reason: reason))
        emit(PipelineEvent(step: step, ledgerID: id, outcome: "quarantined", message: reason))
    }

    /// After a failed attempt: back to the queue, or quarantined once the attempts are used up.
    func retryOrQuarantine(
        _ entry: PatchLedgerEntry, policy: PatchPolicy, reason: String, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        let attempts = try await blamedAttempts(entry)
        if attempts >= policy.maxApplyAttempts {
            try await setAside(entry.ledgerID, reason: "\(reason) (after \(attempts) attempts)", &summary, emit: emit)
        } else {
            _ = try await engine.patches.queue(entry.ledgerID)
            summary.requeued += 1
            emit(
                PipelineEvent(
                    step: "requeue", ledgerID: entry.ledgerID, outcome: "queued",
                    message: "attempt \(attempts) of \(policy.maxApplyAttempts) failed"))
        }
    }

    /// The landed commit's message: the submitter's (`--message`), else the mail's subject and body,
    /// else a default; then Sluice's trailers.
    func commitMessage(
        _ entry: PatchLedgerEntry, source: PatchSource, authorship: Authorship? = nil, verdicts: [GateVerdict]
    ) -> String {
        let mail = authorship.flatMap {
            $0.subject.isEmpty ? nil : $0.body.isEmpty ? $0.subject : $0.subject + "\n\n" + $0.body
        }
        // The submitter's words may not pass for Sluice's own trailers (a forged Sluice-Gate line).
        let given = (source.message ?? mail ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.lowercased().hasPrefix("sluice-") }.joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var lines = [given.isEmpty ? "Apply patch \(entry.patchID)" : given, ""]
        lines.append("Sluice-Ledger-Id: \(entry.ledgerID)")
        lines.append("Sluice-Patch-Id: \(entry.patchID)")
        if let workstream = entry.workstreamID { lines.append("Sluice-Workstream: \(workstream)") }
        for gate in verdicts {
            let counts = gate.passedTests.map { " (\($0)/\(gate.totalTests ?? 0) tests passed)" } ?? ""
            lines.append("Sluice-Gate: \(gate.name) \(gate.state.rawValue)\(counts)")
            if let flaky = gate.flakyTests {
                lines.append("Sluice-Flaky: \(gate.name) passed on a rerun after failing \(Self.list(flaky))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
