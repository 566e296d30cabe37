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
    /// - Throws: `blocked` when `sandbox: bubblewrap` is set and bubblewrap cannot seal here.
    public func run(watch: Bool = false, emit: @Sendable (PipelineEvent) -> Void) async throws -> PipelineSummary {
        let lock = try RunLock(path: path("run.lock"))
        defer { lock.release() }
        var summary = PipelineSummary()
        // Sealed or not is decided (and warned about) once, before anything moves.
        let bubblewrap = await locateBubblewrap()
        _ = try sealing(try await configuration().0, available: bubblewrap, emit: emit)
        do {
            try await processQueue(watch: watch, bubblewrap: bubblewrap, &summary, emit: emit)
        } catch {
            try? await removeWorkspace()
            // A cancelled run's git commands fail in any number of ways; what happened is the cancellation.
            throw Task.isCancelled ? CancellationError() : error
        }
        try await removeWorkspace()
        return summary
    }

    func processQueue(
        watch: Bool, bubblewrap: Result<String, SandboxUnavailable>, _ summary: inout PipelineSummary,
        emit: @Sendable (PipelineEvent) -> Void
    ) async throws {
        try await recover(&summary, emit: emit)
        while !Task.isCancelled {
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
            let queue = try await engine.patches.list(PatchFilter(state: .queued)).sorted { $0.updatedAt < $1.updatedAt }
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
            guard let next = ready.first else {
                // A patch held for review may still be approved and move the branch: those waiting stay.
                let held = try await !engine.patches.list(PatchFilter(state: .validated)).isEmpty
                for entry in queue where waits(on: head, entry) && !held {
                    let reason =
                        "does not apply to the target branch at \(head.prefix(12)), and no patch ahead of it could "
                        + "change that: rebase it and resubmit (\(entry.apply.lastErrorMessage ?? "conflict"))"
                    try await setAside(entry.ledgerID, reason: reason, &summary, emit: emit)
                }
                if watch {
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                break
            }
            do {
                try await process(
                    next.ledgerID, configuration: (config, head), bubblewrap: bubblewrap, &summary, emit: emit)
            } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                // Someone else (a `patch drop`, a `patch quarantine`) moved the patch while it was processed.
                emit(PipelineEvent(step: "skip", ledgerID: next.ledgerID, outcome: "changed", message: error.message))
            }
        }
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
    /// or requeues or quarantines it.
    ///
    /// - Parameter configuration: the target branch's configuration and head, as the queue was read.
    func process(
        _ id: LedgerID, configuration: (SluiceConfig, String), bubblewrap available: Result<String, SandboxUnavailable>,
        _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        func since(_ instant: ContinuousClock.Instant) -> Double { (clock.now - instant).inSeconds }
        let (config, base) = configuration
        if config.gates.isEmpty && !config.allowUngated {
            // Before anything is touched: the patch stays queued for a run with gates.
            throw SluiceError(
                code: .blocked,
                message: "\(ConfigLoader.fileName) on \(config.targetBranch) configures no gate, so patches would land "
                    + "unchecked: add gates to \(ConfigLoader.fileName) on \(config.targetBranch), or set "
                    + "allow_ungated: true there to land without them; queued patches stay queued")
        }
        guard let source = try await engine.context.storage.patchSource(id) else {
            try await quarantine(id, reason: "no diff is stored for this patch")
            return
        }
        let diff: UnifiedDiff
        do {
            diff = try DiffParser.parse(source.bytes)
        } catch {
            try await quarantine(id, reason: "the stored diff no longer parses: \(error)")
            return
        }

        // Sealed as the configuration of this patch's base says; warned about once, at the run's start.
        let bubblewrap = try sealing(config, available: available) { _ in }

        // Apply, merging as `git am -3` does when the patch was made on an older base.
        let workspace = try await checkoutWorkspace(at: base)
        var apply = try await git.run(
            ["apply", "--index", "--3way", "--whitespace=nowarn", "-"], in: workspace, input: source.bytes)
        if !apply.succeeded, let madeOn = source.madeOn, madeOn != base {
            // A plain diff has no blob ids to merge with; the commit it was made on does.
            _ = try await checkoutWorkspace(at: base)
            if let merged = try await merge(source.bytes, madeOn: madeOn, onto: base) {
                apply = try await git.run(["read-tree", "--reset", "-u", merged], in: workspace)
            }
        }
        guard apply.succeeded else {
            let message = "does not apply on \(base): \(apply.message)"
            let failed = try await engine.patches.applyFailed(id, code: "conflict", message: message)
            emit(
                PipelineEvent(
                    step: "apply", ledgerID: id, outcome: "conflict", message: message, seconds: since(started)))
            try await retryOrQuarantine(failed, policy: config.policy, reason: message, &summary, emit: emit)
            return
        }
        let entry = try await engine.patches.applied(
            id, on: base, workspace: workspace, files: diff.files.flatMap(\.paths))
        let tree = try await git.checked(["write-tree"], in: workspace)
        emit(
            PipelineEvent(
                step: "apply", ledgerID: id, outcome: "ok", message: "applied on \(base.prefix(12))",
                seconds: since(started)))

        // Judge what git really staged, under the policy of the head it was applied on, before any gate runs.
        let judged = try await judge(diff, base: base, tree: tree, config: config)
        let issues = try await waivingRevertedTests(
            PolicyCheck.issues(of: diff, policy: config.policy) + judged.issues, of: id)
        if !issues.isEmpty {
            try await reject(
                id, reason: "refused: " + issues.map(\.description).joined(separator: "; "), &summary, emit: emit)
            return
        }
        let approved = try await engine.patches.approver(of: id) != nil
        if !judged.reviews.isEmpty, !approved {
            let reason =
                "needs a person's approval: " + judged.reviews.map(\.description).joined(separator: "; ")
                + "; resubmit it and approve it with `sluice patch approve`"
            try await reject(id, reason: reason, &summary, emit: emit)
            return
        }

        // Gates.
        var verdicts: [TestGateRecord] = []
        for gate in config.gates {
            let (record, seconds) = try await GateRunner(engine: engine, runner: runner).run(
                gate, for: entry, in: workspace, logDirectory: path("logs", id.description), config: config,
                sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap), cache: gateCachePath,
                mustRun: approved ? [] : try mustRun(gate.name, on: base, for: entry))
            summary.gateSeconds += seconds
            verdicts.append(record)
            emit(
                PipelineEvent(
                    step: "gate", ledgerID: id, outcome: record.state.rawValue,
                    message: "\(gate.name): \(record.decision?.reason ?? "")", seconds: seconds))
            if record.state != .passed { break }
        }
        if let failed = verdicts.first(where: { $0.state != .passed }) {
            try await reject(
                id, reason: "gate \(failed.name) \(failed.state.rawValue): \(failed.decision?.reason ?? "")", &summary,
                emit: emit)
            return
        }

        // What lands is exactly what was tested: the branch must still be where the patch was applied.
        guard try await git.commit(of: "refs/heads/\(config.targetBranch)") == base else {
            let failed = try await engine.patches.applyFailed(
                id, code: "branch_moved", message: "\(config.targetBranch) moved while the gates ran; re-applying")
            try await retryOrQuarantine(
                failed, policy: config.policy, reason: "the target branch kept moving", &summary, emit: emit)
            return
        }
        // The gates ran on the workspace's files: the staged tree must still be the applied one, and no
        // tracked file may differ from it, or what would land is not what was tested.
        // The gates ran on the workspace's files: they must still be the applied tree, the one the commit
        // is made from (whatever the gates did to the index), or what would land is not what was tested.
        let changed = try await git.run(["diff", "--quiet", "--no-ext-diff", "--no-textconv", tree], in: workspace)
        guard changed.succeeded else {
            try await reject(
                id,
                reason:
                    "the gates changed tracked files they tested (\(changed.status == 1 ? "git diff" : changed.message)); "
                    + "what would land is not what was tested", &summary, emit: emit)
            return
        }
        let authorship = try await authorship(of: source)
        let message = commitMessage(entry, source: source, authorship: authorship, verdicts: verdicts)
        // Plumbing: the commit is exactly the tested tree on the base, whatever hooks or config the workspace has.
        let tested = try await git.checked(
            ["commit-tree", tree, "-p", base, "-F", "-"], input: Array(message.utf8),
            environment: authorship?.environment ?? [:])
        _ = try await engine.patches.verified(
            id, tested: tested, reason: verdicts.isEmpty ? "no gates configured" : "all gates passed")
        try await land(id, tested: tested, base: base, branch: config.targetBranch, &summary, emit: emit)
        emit(PipelineEvent(step: "done", ledgerID: id, outcome: "ok", message: "processed", seconds: since(started)))
    }

    /// Moves the target branch from `base` to `tested` with a compare-and-swap, records it in the
    /// ledger, and then, when the branch is checked out in a clean working tree, moves that tree too.
    /// The branch moves first: a run killed after it leaves at worst a checkout behind its branch,
    /// which the next run repairs (``repairCheckout(branch:)``), never a staged change with no commit.
    ///
    /// - Throws: ``SluiceError`` (`blocked`) when the checked-out tree has uncommitted changes: the
    ///   patch stays verified and nothing is touched; run again once the tree is clean.
    func land(
        _ id: LedgerID, tested: String, base: String, branch: String, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        let checkout = try await git.checkout(in: repository)
        let checkedOut = checkout.branch == branch
        if checkedOut {
            let changes = checkout.changes
            guard changes.isEmpty else {
                throw SluiceError(
                    code: .blocked,
                    message: "cannot land patch \(id): \(branch) is checked out in \(repository) with uncommitted "
                        + "changes (\(changes.count) files); commit or stash them and run again (the patch stays verified)"
                )
            }
        }
        let swap = try await git.run(["update-ref", "-m", "sluice: land \(id)", "refs/heads/\(branch)", tested, base])
        guard swap.succeeded else {
            try await setAside(
                id, reason: "\(branch) moved while the patch was landing; resubmit it", step: "land", &summary,
                emit: emit)
            return
        }
        _ = try await engine.patches.committed(id, landed: tested)
        summary.landed.append(id.description)
        emit(
            PipelineEvent(
                step: "land", ledgerID: id, outcome: "landed", message: "\(branch) is now \(tested.prefix(12))"))
        if checkedOut { try await moveCheckout(from: base, to: tested) }
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
        let passed = try await testsThatPassed(gate, on: base)
        guard let original = entry.relations.rollbackOfPatchID, !passed.isEmpty else { return passed }
        guard let reverted = try await engine.context.storage.patch(patchID: original),
            let originalBase = try await engine.context.storage.patchSource(reverted.ledgerID)?.baseCommit
        else { return [] }
        let before = await Set(try testsThatPassed(gate, on: originalBase))
        return passed.filter(before.contains)
    }

    /// The tests that passed in the last run of a gate on the target branch at `head`: the run of the
    /// patch that landed `head`. Empty when `head` was not landed by Sluice (a commit made by hand).
    func testsThatPassed(_ gate: String, on head: String) async throws -> [String] {
        for record in try await engine.gates.list(GateFilter(state: .passed, name: gate, limit: 20)) {
            guard case .string(let text)? = record.metadata["ledger_id"], let ledgerID = try? LedgerID(parsing: text),
                try await engine.context.storage.patchSource(ledgerID)?.landedCommit == head
            else { continue }
            return (record.results?.testCases ?? []).filter { $0.status == .passed }.map(\.qualifiedName)
        }
        return []
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

    /// An applied patch that must not land: its verification fails with the reason, and it is quarantined.
    func reject(_ id: LedgerID, reason: String, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void) async throws
    {
        try await engine.patches.verify(id, passed: false, reason: reason)
        try await setAside(id, reason: reason, &summary, emit: emit)
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
        if entry.apply.attempts >= policy.maxApplyAttempts {
            try await setAside(
                entry.ledgerID, reason: "\(reason) (after \(entry.apply.attempts) attempts)", &summary, emit: emit)
        } else {
            _ = try await engine.patches.queue(entry.ledgerID)
            summary.requeued += 1
            emit(
                PipelineEvent(
                    step: "requeue", ledgerID: entry.ledgerID, outcome: "queued",
                    message: "attempt \(entry.apply.attempts) of \(policy.maxApplyAttempts) failed"))
        }
    }

    /// The landed commit's message: the submitter's (`--message`), else the mail's subject and body,
    /// else a default; then Sluice's trailers.
    func commitMessage(
        _ entry: PatchLedgerEntry, source: PatchSource, authorship: Authorship? = nil, verdicts: [TestGateRecord]
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
            let counts = gate.results.map { " (\($0.passedTests)/\($0.totalTests) tests passed)" } ?? ""
            lines.append("Sluice-Gate: \(gate.name) \(gate.state.rawValue)\(counts)")
        }
        return lines.joined(separator: "\n")
    }
}
