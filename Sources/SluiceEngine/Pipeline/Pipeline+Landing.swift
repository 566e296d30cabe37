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
            throw error
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
            for created in try engine.patches.list(PatchFilter(state: .created)).reversed()
            where try created.createdAt < settled && engine.context.storage.patchSource(created.ledgerID) != nil {
                do {
                    note(try await validate(created.ledgerID), &summary, emit: emit)
                } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
                    continue
                }
            }
            let queue = try engine.patches.list(PatchFilter(state: .queued)).sorted { $0.updatedAt < $1.updatedAt }
            guard let next = queue.first else {
                if watch {
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                break
            }
            do {
                try await process(next.ledgerID, bubblewrap: bubblewrap, &summary, emit: emit)
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
    func process(
        _ id: LedgerID, bubblewrap available: Result<String, SandboxUnavailable>, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        func since(_ instant: ContinuousClock.Instant) -> Double { (clock.now - instant).inSeconds }
        let (config, base) = try await configuration()
        guard let source = try engine.context.storage.patchSource(id) else {
            try quarantine(id, reason: "no diff is stored for this patch")
            return
        }
        let diff: UnifiedDiff
        do {
            diff = try DiffParser.parse(source.bytes)
        } catch {
            try quarantine(id, reason: "the stored diff no longer parses: \(error)")
            return
        }

        // Sealed as the configuration of this patch's base says; warned about once, at the run's start.
        let bubblewrap = try sealing(config, available: available) { _ in }

        // Apply.
        let workspace = try await checkoutWorkspace(at: base)
        let apply = try await git.run(
            ["apply", "--index", "--whitespace=nowarn", "-"], in: workspace, input: source.bytes)
        guard apply.succeeded else {
            let message = apply.stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: "; ")
            let failed = try engine.patches.applyFailed(id, code: "conflict", message: message)
            emit(
                PipelineEvent(
                    step: "apply", ledgerID: id, outcome: "conflict", message: message, seconds: since(started)))
            try retryOrQuarantine(
                failed, policy: config.policy, reason: "does not apply: \(message)", &summary, emit: emit)
            return
        }
        try engine.context.storage.recordCommits(id, base: base, tested: nil, landed: nil)
        var entry = try engine.patches.applied(id, workspace: workspace, files: diff.files.flatMap(\.paths))
        let tree = try await git.checked(["write-tree"], in: workspace)
        emit(
            PipelineEvent(
                step: "apply", ledgerID: id, outcome: "ok", message: "applied on \(base.prefix(12))",
                seconds: since(started)))

        // Gates.
        var verdicts: [TestGateRecord] = []
        for gate in config.gates {
            let (record, seconds) = try await GateRunner(engine: engine, runner: runner).run(
                gate, for: entry, in: workspace, logDirectory: path("logs", id.description), config: config,
                sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap), cache: gateCachePath)
            summary.gateSeconds += seconds
            verdicts.append(record)
            emit(
                PipelineEvent(
                    step: "gate", ledgerID: id, outcome: record.state.rawValue,
                    message: "\(gate.name): \(record.decision?.reason ?? "")", seconds: seconds))
            if record.state != .passed { break }
        }
        if let failed = verdicts.first(where: { $0.state != .passed }) {
            let reason = "gate \(failed.name) \(failed.state.rawValue): \(failed.decision?.reason ?? "")"
            entry = try engine.patches.verify(id, passed: false, reason: reason)
            try quarantine(id, reason: reason)
            summary.quarantined.append(.init(ledgerID: id.description, reason: reason))
            emit(PipelineEvent(step: "quarantine", ledgerID: id, outcome: "quarantined", message: reason))
            return
        }

        // What lands is exactly what was tested: the branch must still be where the patch was applied.
        guard try await git.commit(of: "refs/heads/\(config.targetBranch)") == base else {
            let failed = try engine.patches.applyFailed(
                id, code: "branch_moved", message: "\(config.targetBranch) moved while the gates ran; re-applying")
            try retryOrQuarantine(
                failed, policy: config.policy, reason: "the target branch kept moving", &summary, emit: emit)
            return
        }
        let message = commitMessage(entry, source: source, verdicts: verdicts)
        try await git.checked(["commit", "--no-verify", "--quiet", "--allow-empty", "-m", message], in: workspace)
        let tested = try await git.checked(["rev-parse", "HEAD"], in: workspace)
        guard try await git.tree(of: tested) == tree else {
            let reason = "the gates changed the staged files; what would land is not what was tested"
            entry = try engine.patches.verify(id, passed: false, reason: reason)
            try quarantine(id, reason: reason)
            summary.quarantined.append(.init(ledgerID: id.description, reason: reason))
            emit(PipelineEvent(step: "quarantine", ledgerID: id, outcome: "quarantined", message: reason))
            return
        }
        try engine.context.storage.recordCommits(id, base: nil, tested: tested, landed: nil)
        _ = try engine.patches.verify(
            id, passed: true, reason: verdicts.isEmpty ? "no gates configured" : "all gates passed")
        try await land(id, tested: tested, base: base, branch: config.targetBranch, &summary, emit: emit)
        emit(PipelineEvent(step: "done", ledgerID: id, outcome: "ok", message: "processed", seconds: since(started)))
    }

    /// Moves the target branch from `base` to `tested` with a compare-and-swap; when the branch is
    /// checked out in a clean working tree, that tree moves with it.
    ///
    /// - Throws: ``SluiceError`` (`blocked`) when the checked-out tree has uncommitted changes: the
    ///   patch stays verified and nothing is lost; run again once the tree is clean.
    func land(
        _ id: LedgerID, tested: String, base: String, branch: String, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        let checkedOut = try await git.checkedOutBranch() == branch
        if checkedOut {
            let changes = try await git.uncommittedChanges(in: repository)
            guard changes.isEmpty else {
                throw SluiceError(
                    code: .blocked,
                    message: "cannot land patch \(id): \(branch) is checked out in \(repository) with uncommitted "
                        + "changes (\(changes.count) files); commit or stash them and run again (the patch stays verified)"
                )
            }
            try await git.checked(["read-tree", "-m", "-u", base, tested])
        }
        let swap = try await git.run(["update-ref", "-m", "sluice: land \(id)", "refs/heads/\(branch)", tested, base])
        guard swap.succeeded else {
            if checkedOut { _ = try? await git.run(["read-tree", "-m", "-u", tested, base]) }
            let reason = "\(branch) moved while the patch was landing; resubmit it"
            try quarantine(id, reason: reason)
            summary.quarantined.append(.init(ledgerID: id.description, reason: reason))
            emit(PipelineEvent(step: "land", ledgerID: id, outcome: "quarantined", message: reason))
            return
        }
        try engine.context.storage.recordCommits(id, base: nil, tested: nil, landed: tested)
        _ = try engine.patches.commit(id)
        summary.landed.append(id.description)
        emit(
            PipelineEvent(
                step: "land", ledgerID: id, outcome: "landed", message: "\(branch) is now \(tested.prefix(12))"))
    }

    /// After a failed attempt: back to the queue, or quarantined once the attempts are used up.
    func retryOrQuarantine(
        _ entry: PatchLedgerEntry, policy: PatchPolicy, reason: String, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) throws {
        if entry.apply.attempts >= policy.maxApplyAttempts {
            let text = "\(reason) (after \(entry.apply.attempts) attempts)"
            try quarantine(entry.ledgerID, reason: text)
            summary.quarantined.append(.init(ledgerID: entry.ledgerID.description, reason: text))
            emit(PipelineEvent(step: "quarantine", ledgerID: entry.ledgerID, outcome: "quarantined", message: text))
        } else {
            _ = try engine.patches.queue(entry.ledgerID)
            summary.requeued += 1
            emit(
                PipelineEvent(
                    step: "requeue", ledgerID: entry.ledgerID, outcome: "queued",
                    message: "attempt \(entry.apply.attempts) of \(policy.maxApplyAttempts) failed"))
        }
    }

    func commitMessage(_ entry: PatchLedgerEntry, source: PatchSource, verdicts: [TestGateRecord]) -> String {
        var lines = [source.message ?? "Apply patch \(entry.patchID)", ""]
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
