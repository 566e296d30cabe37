import Foundation
import SluiceCore
import SluiceStore

#if canImport(Glibc)
    import Glibc
#endif

extension Pipeline {
    /// Brings the ledger and the disk back to a consistent state after a run that was killed:
    /// interrupted gates end in error, interrupted applications count as failed attempts, a
    /// verified patch lands exactly once (or is found already landed), and no workspace is left.
    func recover(_ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void) async throws {
        let (config, _) = try await configuration()
        killOrphanedGates()
        // A run killed during a rerun or a check of the branch left the gates' cache moved aside.
        restoreKeptCache()
        // On a ledger several clones share (PostgreSQL), the run lock on the database is held by this run:
        // a gate running or a patch applied now belongs to a run that died, in whichever clone.
        let ours: (TestGateRecord) -> Bool = { $0.metadata["ledger_id"] != nil }
        for gate in try await engine.gates.list(GateFilter(state: .running)) where ours(gate) {
            // Its end is unknown: what it is known to have run, to the last write to its log, is charged.
            try await endInterrupted(
                gate, reason: "interrupted: sluice run stopped while this gate ran", until: lastLogWrite(of: gate),
                config: config)
        }
        // Before gates were created started, in one unit, a run killed in between left them pending.
        for gate in try await engine.gates.list(GateFilter(state: .pending)) where ours(gate) {
            _ = try await engine.gates.skip(gate.gateID, reason: "interrupted: sluice run stopped before this gate ran")
        }
        for entry in try await engine.patches.list(PatchFilter(state: .applied)) {
            let failed = try await engine.patches.applyFailed(
                entry.ledgerID, code: "interrupted", message: "sluice run stopped while this patch was being gated")
            emit(
                PipelineEvent(
                    step: "recover", ledgerID: entry.ledgerID, outcome: "interrupted", message: "gating restarts"))
            // A run killed under a patch is not the patch's failed attempt; a patch under which runs keep
            // dying (its gate takes the run down) is set aside after more interruptions than attempts.
            let interruptions = try await engine.events(entityID: entry.ledgerID.description)
                .filter {
                    $0.toState == PatchState.applyFailed.rawValue && $0.reason?.hasPrefix("interrupted:") == true
                }
                .count
            if interruptions > config.policy.maxApplyAttempts {
                try await setAside(
                    entry.ledgerID, reason: "sluice run stopped \(interruptions) times while this patch was gated",
                    &summary, emit: emit)
            } else {
                _ = try await engine.patches.queue(failed.ledgerID)
                summary.requeued += 1
            }
        }
        // What a killed run held on the budgets for its gates is released: no gate of it runs now.
        for hold in try await engine.budgets.releaseAllGateHolds() {
            emit(
                PipelineEvent(
                    step: "recover", ledgerID: hold.ledgerID, outcome: "released",
                    message: "the hold of \(hold.estimate) \(hold.currency) a stopped run left for its gates"))
        }
        for entry in try await engine.patches.list(PatchFilter(state: .applyFailed)) {
            try await retryOrQuarantine(
                entry, policy: config.policy, reason: entry.apply.lastErrorMessage ?? "failed", &summary, emit: emit)
        }
        try await recoverVerifiedBatch(config: config, &summary, emit: emit)
        for entry in try await engine.patches.list(PatchFilter(state: .verified)) {
            try await recoverVerified(entry, config: config, &summary, emit: emit)
        }
        try await repairCheckout(branch: config.targetBranch, emit: emit)
        // A workspace left by a killed run belongs to no patch in flight any more.
        try await removeWorkspace()
        await removeSlots()
    }

    /// What a run asked to stop at once (SIGINT, SIGTERM) does before its process exits: releases what
    /// it holds on the budgets for its gates, then kills the gates it runs (by their recorded process
    /// groups). The caller exits right after (`_exit`), before the run can record a gate it killed as
    /// failed; the patch in flight is left `applied`, for the next run's recovery to gate again.
    public func abandon() async {
        // The gates' time so far is charged first, each with its gate's end in one unit: the run's own
        // recording of a gate that ends meanwhile then finds it ended, and charges nothing twice.
        if let (config, _) = try? await configuration(),
            let running = try? await engine.gates.list(GateFilter(state: .running))
        {
            let now = engine.context.clock.now()
            for gate in running where gate.metadata["ledger_id"] != nil {
                _ = try? await endInterrupted(
                    gate, reason: "interrupted: sluice run was stopped by a signal while this gate ran", until: now,
                    config: config)
            }
        }
        _ = try? await engine.budgets.releaseAllGateHolds()
        killOrphanedGates()
    }

    /// Ends a gate an interrupted run left running as error, and records its `compute_time` cost from
    /// its start to `end` (at most its time limit and grace) in the same unit. Returns false, writing
    /// nothing, when the gate had ended already.
    @discardableResult
    func endInterrupted(_ gate: TestGateRecord, reason: String, until end: Timestamp, config: SluiceConfig)
        async throws -> Bool
    {
        let ending = engine.gates.step(.error(message: reason, exitCode: nil), gate.gateID)
        var cost: Step<Void>?
        if let start = gate.execution.startedAt, case .string(let text)? = gate.metadata["ledger_id"],
            let id = try? LedgerID(parsing: text), let entry = try await engine.context.storage.patch(id)
        {
            let timeLimit =
                config.gates.first { $0.name == gate.name }?.timeoutSeconds ?? gate.criteria.timeoutSeconds
                ?? GateCriteria.maxTimeoutSeconds
            cost = try GateRunner(engine: engine, runner: processes, inherited: inheritedEnvironment()).costRecording(
                gate, entry: entry, milliseconds: end.milliseconds - start.milliseconds, config: config,
                timeLimit: timeLimit, metadata: ["interrupted": .bool(true)]
            ).1
        }
        do {
            try await engine.context.storage.write { [cost] tx in
                _ = try ending(tx)
                try cost?(tx)
            }
            return true
        } catch let error as SluiceError where error.code == .invalidTransition || error.code == .lostRace {
            return false
        }
    }

    /// When the gate's log was last written (its start when there is none): the latest a killed run's
    /// gate is known to have run.
    func lastLogWrite(of gate: TestGateRecord) -> Timestamp {
        let start = gate.execution.startedAt ?? engine.context.clock.now()
        guard case .string(let ledgerID)? = gate.metadata["ledger_id"] else { return start }
        let log = path("logs", ledgerID, "\(GateRunner.logStem(gate.name, check: gate.metadata["check"])).log")
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: log))?[.modificationDate] as? Date
        else { return start }
        return Timestamp(milliseconds: max(start.milliseconds, Int64(modified.timeIntervalSince1970 * 1000)))
    }

    /// A killed run cannot stop its gates; their process groups are recorded in `.pgid` files, and
    /// killed here if they are provably still the same groups.
    func killOrphanedGates() {
        let logs = path("logs")
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: logs) else { return }
        for entry in entries {
            let directory = (logs as NSString).appendingPathComponent(entry)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasSuffix(".pgid") {
                let file = (directory as NSString).appendingPathComponent(name)
                if let text = try? String(contentsOfFile: file, encoding: .utf8),
                    let record = ProcessGroupRecord(line: text)
                {
                    record.killIfStillOurs()
                }
                try? FileManager.default.removeItem(atPath: file)
            }
        }
    }

    /// A run killed after moving the branch and before the checked-out working tree followed leaves
    /// that tree and its index at the landing's base while the branch is at the landed commit: to
    /// git it looks like uncommitted changes that undo the patch. The ledger says which landing it
    /// was (the committed patch whose landed commit the branch is at), so the tree is moved forward
    /// here, without any step from the user. Files the interrupted move had already written are
    /// recognised by their content; a file changed in any other way is left alone, and the run says so.
    func repairCheckout(branch: String, emit: (PipelineEvent) -> Void) async throws {
        guard try await git.checkedOutBranch() == branch, let head = try await git.commit(of: "refs/heads/\(branch)"),
            let landing = try await lastLanding(at: head), var base = landing.base, base != head
        else { return }
        let index = try await git.run(["write-tree"])
        guard index.succeeded else { return }
        // A batch landed with one swap: the checkout was left at the batch's base, below its lower patches.
        for _ in 0..<MergeQueueSettings.maxBatchSize where index.line != (try await git.tree(of: base)) {
            guard let below = try await lastLanding(at: base), let lower = below.base else { break }
            base = lower
        }
        guard index.line == (try await git.tree(of: base)) else { return }
        let touched = Set(try await nulSeparated(git.checkedBytes(["diff", "--name-only", "-z", base, head])))
        let dirty = try await nulSeparated(git.checkedBytes(["diff", "--name-only", "-z"]))
        var written: [String] = []
        for path in dirty where touched.contains(path) {
            let landed = try await git.run(["rev-parse", "--verify", "--quiet", "\(head):\(path)"])
            let onDisk = try await git.run(["hash-object", "--", path])
            let missing = !FileManager.default.fileExists(atPath: (repository as NSString).appendingPathComponent(path))
            guard (landed.succeeded && onDisk.succeeded && landed.line == onDisk.line) || (!landed.succeeded && missing)
            else {
                throw SluiceError(
                    code: .blocked,
                    message: "\(branch) is at \(head.prefix(12)), landed by patch \(landing.id), but the checkout in "
                        + "\(repository) is still at \(base.prefix(12)) and \(path) was changed since; do not commit: "
                        + "save your change elsewhere, then `git checkout -- \(path)` and run again")
            }
            written.append(path)
        }
        if !written.isEmpty { try await git.checked(["update-index", "--add", "--remove", "--"] + written) }
        try await moveCheckout(from: base, to: head)
        emit(
            PipelineEvent(
                step: "recover", ledgerID: landing.id, outcome: "repaired",
                message:
                    "the checkout of \(branch) moved to \(head.prefix(12)), where an interrupted landing left it behind"
            ))
    }

    /// The committed patch whose landed commit is `head`, with the base it landed on.
    func lastLanding(at head: String) async throws -> (id: LedgerID, base: String?)? {
        let committed = try await engine.patches.list(PatchFilter(state: .committed)).sorted {
            $0.updatedAt > $1.updatedAt
        }
        for entry in committed.prefix(20 + MergeQueueSettings.maxBatchSize) {
            if let source = try await engine.context.storage.patchSource(entry.ledgerID), source.landedCommit == head {
                return (entry.ledgerID, source.baseCommit)
            }
        }
        return nil
    }

    func nulSeparated(_ bytes: [UInt8]) -> [String] {
        bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Refuses to set aside by hand (quarantine, drop, roll back: `verb`) a verified patch whose commit
    /// the target branch already holds: a run stopped after it landed, before the ledger said so. The
    /// next run's recovery records it as landed and moves the checkout; a revert then undoes it.
    ///
    /// - Throws: `invalidTransition`, saying so; nothing for any other patch, or one not found.
    public func refuseIfLanded(_ id: LedgerID, _ verb: String) async throws {
        guard let entry = try? await engine.patches.get(id), entry.state == .verified,
            let tested = try await engine.context.storage.patchSource(entry.ledgerID)?.testedCommit,
            let branch = try? await configuration().0.targetBranch,
            let head = try await git.commit(of: "refs/heads/\(branch)"),
            try await git.commit(of: tested) != nil, try await git.isAncestor(tested, of: head)
        else { return }
        throw SluiceError(
            code: .invalidTransition,
            message: "cannot \(verb) patch \(entry.ledgerID): it has landed (\(branch) holds its commit "
                + "\(tested.prefix(12))), and a stopped run did not record it yet; run `sluice run` to record it, "
                + "then `sluice patch revert \(entry.ledgerID)` to undo it")
    }

    /// A batch whose run stopped between recording its patches verified and moving the branch left
    /// them verified, each made on the one below it, the lowest on the branch's head: its top lands
    /// them all with one compare-and-swap from there, as the run would have (the gates passed on the
    /// top's tree). The patches below it are then found on the branch and recorded as landed.
    func recoverVerifiedBatch(
        config: SluiceConfig, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        let verified = try await engine.patches.list(PatchFilter(state: .verified))
        guard verified.count > 1, let head = try await git.commit(of: "refs/heads/\(config.targetBranch)") else {
            return
        }
        var commits: [LedgerID: (base: String, tested: String)] = [:]
        for entry in verified {
            if let source = try await engine.context.storage.patchSource(entry.ledgerID), let base = source.baseCommit,
                let tested = source.testedCommit
            {
                commits[entry.ledgerID] = (base, tested)
            }
        }
        guard var top = verified.first(where: { commits[$0.ledgerID]?.base == head }) else { return }
        var members = [top.ledgerID]
        while let above = verified.first(where: {
            !members.contains($0.ledgerID) && commits[$0.ledgerID]?.base == commits[top.ledgerID]?.tested
        }) {
            top = above
            members.append(above.ledgerID)
        }
        // Only a whole batch lands so: its top is the patch the gates ran on (its commit says so).
        guard members.count > 1, let tested = commits[top.ledgerID]?.tested,
            try await git.commit(of: tested) != nil,
            try await batchPosition(of: tested) == .top(of: members.count)
        else { return }
        emit(
            PipelineEvent(
                step: "recover", ledgerID: top.ledgerID, outcome: "batch",
                message: "a verified batch of \(members.count) lands at its top, as its stopped run would have"))
        try await land(top.ledgerID, tested: tested, base: head, config: config, &summary, emit: emit)
    }

    func recoverVerified(
        _ entry: PatchLedgerEntry, config: SluiceConfig, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        let source = try await engine.context.storage.patchSource(entry.ledgerID)
        guard let tested = source?.testedCommit, let base = source?.baseCommit else {
            try await quarantine(
                entry.ledgerID, reason: "verified, but the tested commit was not recorded; resubmit it")
            return
        }
        let head = try await git.commit(of: "refs/heads/\(config.targetBranch)")
        if let head, try await git.isAncestor(tested, of: head) {
            // It landed; the run stopped before the ledger said so. Record it; never land it twice.
            _ = try await engine.patches.committed(entry.ledgerID, landed: tested)
            summary.landed.append(entry.ledgerID.description)
            emit(
                PipelineEvent(
                    step: "recover", ledgerID: entry.ledgerID, outcome: "landed",
                    message: "already on \(config.targetBranch)"))
        } else if try await git.commit(of: tested) == nil {
            // On a ledger several clones share, a run in another clone verified it: its tested commit is
            // there, not here. Only that clone can land it (or see that it landed); leave it alone.
            emit(
                PipelineEvent(
                    step: "recover", ledgerID: entry.ledgerID, outcome: "elsewhere",
                    message: "verified by a run in another clone (its tested commit \(tested.prefix(12)) is not in "
                        + "this repository): run sluice there to finish it"))
        } else if case .below = try await batchPosition(of: tested) {
            // Tested only under its batch's top, which is not landing with it: never landed alone.
            try await setAside(
                entry.ledgerID,
                reason: "verified as part of a batch whose top did not land with it (the gates never ran on it "
                    + "without the patches above it); resubmit it", step: "recover", &summary, emit: emit)
        } else if head != base, case .top(let size) = try await batchPosition(of: tested), size > 1 {
            // The top of a batch whose lower patches did not all land (one was set aside by hand).
            try await setAside(
                entry.ledgerID,
                reason: "verified as the top of a batch of \(size) whose lower patches did not all land with it (the "
                    + "gates ran on it only on top of them); resubmit it", step: "recover", &summary, emit: emit)
        } else if head == base {
            try await land(entry.ledgerID, tested: tested, base: base, config: config, &summary, emit: emit)
        } else {
            try await setAside(
                entry.ledgerID, reason: "\(config.targetBranch) moved after the patch was verified; resubmit it",
                step: "recover", &summary, emit: emit)
        }
    }
}

/// An exclusive lock on `.sluice/run.lock`: one `sluice run` per repository (and on a file beside a
/// SQLite ledger: one per ledger). The kernel releases it when the process dies, however it dies.
final class RunLock: Sendable {
    private let descriptor: Int32

    init(path: String, what: String = "this repository") throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw SluiceError(code: .storage, message: "cannot open the run lock \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw SluiceError(
                code: .blocked, message: "another sluice run is working on \(what) (it holds \(path))")
        }
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        descriptor = fd
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

extension Pipeline {
    /// Where a commit a batch made stands in it, as its `Sluice-Batch` trailer says.
    enum BatchPosition: Equatable {
        /// Not made by a batch (a patch gated alone).
        case alone
        /// The top of a batch of this many: the gates ran on its tree.
        case top(of: Int)
        /// Below the top: tested only with the patches above it.
        case below
    }

    /// The `Sluice-Batch` trailer of `commit`, read back.
    func batchPosition(of commit: String) async throws -> BatchPosition {
        let message = try await git.checked(["log", "-1", "--format=%B", commit])
        guard let line = message.split(separator: "\n").last(where: { $0.hasPrefix("Sluice-Batch: ") }) else {
            return .alone
        }
        let words = line.dropFirst("Sluice-Batch: ".count).split(separator: " ")
        if words.count >= 3, words[0] == "top", words[1] == "of", let size = Int(words[2].filter(\.isNumber)) {
            return .top(of: size)
        }
        return .below
    }
}
