extension LandingMachine {
    /// Takes the result of the last action (or a start) and returns what to do next.
    ///
    /// Every state has a defined answer to every input: a transition, or a ``Action/refuse(_:)`` that
    /// leaves the state as it was. ``Input/failed(_:)`` stops any landing that has not ended.
    public mutating func receive(_ input: Input) -> [Action] {
        switch (state, input) {
        case (.finished, _), (.stopped, _):
            return refuse(input)
        case (_, .failed(let error)):
            return stop(error)

        case (.idle, .start(let start)):
            return begin(start)
        case (.idle, .resume(let tested)):
            return checkCheckout(Landing(tested: tested, reportsDone: false))

        case (.resettingWorkspace(let reset), .workspaceProbed(let exists)) where reset.step == .probing:
            return exists ? checkOut(reset) : recreate(reset)
        case (.resettingWorkspace(let reset), .git(let output)) where reset.step == .checkingOut:
            state = .resettingWorkspace(
                Reset(step: .cleaning(checkedOut: output.succeeded), purpose: reset.purpose, patch: reset.patch))
            return [.git(clean)]
        case (.resettingWorkspace(let reset), .git(let output)):
            guard case .cleaning(let checkedOut) = reset.step else { return refuse(input) }
            return checkedOut && output.succeeded ? workspaceReady(reset) : recreate(reset)
        case (.resettingWorkspace(let reset), .workspaceRecreated) where reset.step == .recreating:
            return workspaceReady(reset)

        case (.applying(let patch), .git(let output)):
            if output.succeeded { return applied(patch) }
            if let madeOn = patch.madeOn, madeOn != plan.base {
                // A plain diff has no blob ids to merge with; the commit it was made on does.
                state = .resettingWorkspace(Reset(step: .probing, purpose: .merge(firstFailure: output), patch: patch))
                return [.probeWorkspace]
            }
            return conflict(output)
        case (.merging(let patch, let firstFailure), .merged(let tree)):
            guard let tree else { return conflict(firstFailure) }
            state = .readingMergedTree(patch)
            return [.git(GitCommand(["read-tree", "--reset", "-u", tree], in: plan.workspace))]
        case (.readingMergedTree(let patch), .git(let output)):
            return output.succeeded ? applied(patch) : conflict(output)
        case (.writingTree(let patch), .git(let output)):
            guard output.succeeded else { return stop(writeTree.failure(output)) }
            state = .inspecting(diff: patch.diff, tree: output.line)
            return [
                .emit(
                    LandingEvent(
                        step: "apply", outcome: "ok", message: "applied on \(plan.base.prefix(12))", timing: .sinceStart
                    )),
                .inspect(diff: patch.diff, tree: output.line),
            ]

        case (.inspecting(_, let tree), .inspected(let judgement)):
            return judged(judgement, tree: tree)
        case (.gating(let gating), .gateFinished(let verdict)) where verdict.name == plan.gates[gating.index]:
            return gated(gating, verdict)
        case (.checkingBranch(let tested), .git(let output)):
            return branchChecked(output, tested)
        case (.checkingTree(let tested), .git(let output)):
            guard output.succeeded else {
                let how = output.status == 1 ? "git diff" : output.message
                return reject(
                    "the gates changed tracked files they tested (\(how)); what would land is not what was tested")
            }
            state = .committing(tested)
            return [.makeCommit(tree: tested.tree, verdicts: tested.verdicts)]
        case (.committing(let tested), .commitMade(let commit)) where plan.stackOnly:
            return finish(.stacked(commit: commit, tree: tested.tree), done: false)
        case (.committing(let tested), .commitMade(let commit)):
            let reason = tested.verdicts.isEmpty ? "no gates configured" : "all gates passed"
            return [.record(.tested(commit: commit, reason: reason))]
                + checkCheckout(Landing(tested: commit, reportsDone: true))
        case (.recordingFailedAttempt(let reason, let event), .failedAttemptRecorded(let attempts)):
            return (event.map { [Action.emit($0)] } ?? []) + retryOrQuarantine(attempts: attempts, reason: reason)

        case (.checkingCheckout(let landing), .git(let output)):
            return checkoutChecked(output, landing)
        case (.landing(let landing, let checkedOut), .git(let output)):
            return swapped(output, landing, checkedOut: checkedOut)
        case (.movingCheckout(let landing), .git(let output)):
            guard output.succeeded else {
                return stop(
                    SluiceError(
                        code: .blocked,
                        message: "the branch landed, but the checkout in \(plan.repository) could not follow it "
                            + "(\(output.message)); the next `sluice run` repairs it"))
            }
            return finish(.landed(landing.tested), done: landing.reportsDone)

        case (.idle, _), (.resettingWorkspace, _), (.applying, _), (.merging, _), (.readingMergedTree, _),
            (.writingTree, _), (.inspecting, _), (.gating, _), (.checkingBranch, _), (.checkingTree, _),
            (.committing, _), (.recordingFailedAttempt, _), (.checkingCheckout, _), (.landing, _),
            (.movingCheckout, _):
            return refuse(input)
        }
    }

    // MARK: - Applying

    private mutating func begin(_ start: Start) -> [Action] {
        if plan.gates.isEmpty && !plan.allowUngated {
            // Before anything is touched: the patch stays queued for a run with gates.
            return stop(
                SluiceError(
                    code: .blocked,
                    message: "\(plan.configFile) on \(plan.branch) configures no gate, so patches would land "
                        + "unchecked: add gates to \(plan.configFile) on \(plan.branch), or set "
                        + "allow_ungated: true there to land without them; queued patches stay queued"))
        }
        guard let source = start.source else { return discard("no diff is stored for this patch") }
        let diff: UnifiedDiff
        do {
            diff = try DiffParser.parse(source.bytes)
        } catch {
            return discard("the stored diff no longer parses: \(error)")
        }
        if let problem = start.sandboxProblem { return stop(problem) }
        state = .resettingWorkspace(
            Reset(step: .probing, purpose: .apply, patch: Patch(bytes: source.bytes, diff: diff, madeOn: source.madeOn))
        )
        return [.probeWorkspace]
    }

    private mutating func checkOut(_ reset: Reset) -> [Action] {
        state = .resettingWorkspace(Reset(step: .checkingOut, purpose: reset.purpose, patch: reset.patch))
        return [.git(GitCommand(["checkout", "--quiet", "--force", "--detach", plan.base], in: plan.workspace))]
    }

    private mutating func recreate(_ reset: Reset) -> [Action] {
        state = .resettingWorkspace(Reset(step: .recreating, purpose: reset.purpose, patch: reset.patch))
        return [.recreateWorkspace(at: plan.base)]
    }

    private var clean: GitCommand { GitCommand(["clean", "-ffdxq"], in: plan.workspace) }

    private mutating func workspaceReady(_ reset: Reset) -> [Action] {
        switch reset.purpose {
        case .apply:
            state = .applying(reset.patch)
            return [
                .git(
                    GitCommand(
                        ["apply", "--index", "--3way", "--whitespace=nowarn", "-"], in: plan.workspace,
                        input: reset.patch.bytes))
            ]
        case .merge(let firstFailure):
            guard let madeOn = reset.patch.madeOn else { return conflict(firstFailure) }
            state = .merging(reset.patch, firstFailure: firstFailure)
            return [.merge(bytes: reset.patch.bytes, madeOn: madeOn, onto: plan.base)]
        }
    }

    private var writeTree: GitCommand { GitCommand(["write-tree"], in: plan.workspace) }

    private mutating func applied(_ patch: Patch) -> [Action] {
        state = .writingTree(patch)
        return [.record(.applied(files: patch.diff.files.flatMap(\.paths))), .git(writeTree)]
    }

    private mutating func conflict(_ output: GitOutput) -> [Action] {
        let message = "does not apply on \(plan.base): \(output.message)"
        state = .recordingFailedAttempt(
            reason: message,
            then: LandingEvent(step: "apply", outcome: "conflict", message: message, timing: .sinceStart))
        return [.record(.applyFailed(code: "conflict", message: message))]
    }

    // MARK: - Judging and gating

    private mutating func judged(_ judgement: Judgement, tree: String) -> [Action] {
        if !judgement.issues.isEmpty {
            return reject("refused: " + judgement.issues.joined(separator: "; "))
        }
        if !judgement.reviews.isEmpty, !judgement.approved {
            return reject(
                "needs a person's approval: " + judgement.reviews.joined(separator: "; ")
                    + "; resubmit it and approve it with `sluice patch approve`")
        }
        if plan.stackOnly {
            // Its batch is gated as a whole, once every patch of it is stacked.
            state = .committing(Tested(tree: tree, verdicts: []))
            return [.makeCommit(tree: tree, verdicts: [])]
        }
        let gating = Gating(tree: tree, index: 0, verdicts: [], checkVanishedTests: !judgement.approved)
        return plan.gates.isEmpty ? checkBranch(Tested(tree: tree, verdicts: [])) : runGate(gating)
    }

    private mutating func runGate(_ gating: Gating) -> [Action] {
        state = .gating(gating)
        return [
            .runGate(index: gating.index, name: plan.gates[gating.index], checkVanishedTests: gating.checkVanishedTests)
        ]
    }

    private mutating func gated(_ gating: Gating, _ verdict: GateVerdict) -> [Action] {
        let reported: [Action] = [
            .tally(.gateSeconds(verdict.seconds)),
            .emit(
                LandingEvent(
                    step: "gate", outcome: verdict.state.rawValue, message: "\(verdict.name): \(verdict.reason ?? "")",
                    timing: .seconds(verdict.seconds))),
        ]
        guard verdict.state == .passed else {
            if let red = verdict.redBranch { return reported + holdBack(red) }
            return reported
                + reject("gate \(verdict.name) \(verdict.state.rawValue): \(verdict.reason ?? "")")
        }
        let verdicts = gating.verdicts + [verdict]
        guard gating.index + 1 < plan.gates.count else {
            return reported + checkBranch(Tested(tree: gating.tree, verdicts: verdicts))
        }
        return reported
            + runGate(
                Gating(
                    tree: gating.tree, index: gating.index + 1, verdicts: verdicts,
                    checkVanishedTests: gating.checkVanishedTests))
    }

    // MARK: - What lands is what was tested

    private mutating func checkBranch(_ tested: Tested) -> [Action] {
        state = .checkingBranch(tested)
        return [.git(GitCommand(["rev-parse", "--verify", "--quiet", "refs/heads/\(plan.branch)^{commit}"]))]
    }

    /// What lands is exactly what was tested: the branch must still be where the patch was applied.
    /// If it moved while the gates ran, the attempt failed and the patch goes back to the queue, to
    /// be applied and gated again on the new head.
    private mutating func branchChecked(_ output: GitOutput, _ tested: Tested) -> [Action] {
        guard output.succeeded, output.line == plan.base else {
            state = .recordingFailedAttempt(reason: "the target branch kept moving", then: nil)
            return [
                .record(
                    .applyFailed(
                        code: "branch_moved", message: "\(plan.branch) moved while the gates ran; re-applying"))
            ]
        }
        // The gates ran on the workspace's files: they must still be the applied tree, the one the commit
        // is made from (whatever the gates did to the index), or what would land is not what was tested.
        state = .checkingTree(tested)
        return [
            .git(GitCommand(["diff", "--quiet", "--no-ext-diff", "--no-textconv", tested.tree], in: plan.workspace))
        ]
    }

    // MARK: - Landing

    private var status: GitCommand {
        GitCommand(["status", "--porcelain=v2", "--branch", "--untracked-files=no", "-z"], in: plan.repository)
    }

    private mutating func checkCheckout(_ landing: Landing) -> [Action] {
        state = .checkingCheckout(landing)
        return [.git(status)]
    }

    /// The branch moves first: a run killed after it leaves at worst a checkout behind its branch,
    /// which the next run repairs, never a staged change with no commit. A checkout with
    /// uncommitted changes stops the run before anything moves; the patch stays verified.
    private mutating func checkoutChecked(_ output: GitOutput, _ landing: Landing) -> [Action] {
        guard output.succeeded else { return stop(status.failure(output)) }
        let checkout = GitReadings.checkout(output.stdout)
        let checkedOut = checkout.branch == plan.branch
        if checkedOut, !checkout.changes.isEmpty {
            return stop(
                SluiceError(
                    code: .blocked,
                    message: "cannot land patch \(plan.ledgerID): \(plan.branch) is checked out in \(plan.repository) "
                        + "with uncommitted changes (\(checkout.changes.count) files); stash them (git stash) and run "
                        + "again: the patch stays verified, and a commit on \(plan.branch) would move it, so that it "
                        + "would have to be resubmitted"))
        }
        state = .landing(landing, checkedOut: checkedOut)
        return [
            .git(
                GitCommand([
                    "update-ref", "-m", "sluice: land \(plan.ledgerID)", "refs/heads/\(plan.branch)", landing.tested,
                    plan.base,
                ]))
        ]
    }

    /// After the compare-and-swap: lost (another writer moved the branch since it was checked), the
    /// patch is set aside; won, it is committed, and a checkout of the branch follows.
    private mutating func swapped(_ output: GitOutput, _ landing: Landing, checkedOut: Bool) -> [Action] {
        guard output.succeeded else {
            let reason = "\(plan.branch) moved while the patch was landing; resubmit it"
            let actions = setAside(reason, step: "land")
            return actions + finish(.quarantined(reason), done: landing.reportsDone)
        }
        let recorded: [Action] = [
            .record(.landed(commit: landing.tested)), .tally(.landed),
            .emit(
                LandingEvent(
                    step: "land", outcome: "landed", message: "\(plan.branch) is now \(landing.tested.prefix(12))")),
        ]
        guard checkedOut else { return recorded + finish(.landed(landing.tested), done: landing.reportsDone) }
        state = .movingCheckout(landing)
        return recorded + [.git(GitCommand(["read-tree", "-m", "-u", plan.base, landing.tested]))]
    }

    // MARK: - Endings

    /// Ends the course; `done` adds the event that reports the patch processed.
    private mutating func finish(_ outcome: Outcome, done: Bool) -> [Action] {
        state = .finished(outcome)
        guard done else { return [] }
        return [.emit(LandingEvent(step: "done", outcome: "ok", message: "processed", timing: .sinceStart))]
    }

    /// An applied patch that must not land: its verification fails with the reason, and it is quarantined.
    private mutating func reject(_ reason: String) -> [Action] {
        state = .finished(.quarantined(reason))
        return [.record(.failed(reason: reason))] + setAside(reason)
    }

    /// Back in the queue without blame: the target branch fails the gate on its own.
    private mutating func holdBack(_ reason: String) -> [Action] {
        state = .finished(.heldBack(reason))
        return [
            .record(.heldBack(reason: reason)), .tally(.redBranch(reason)),
            .emit(LandingEvent(step: "requeue", outcome: "queued", message: "not blamed: \(reason)")),
        ]
    }

    /// Quarantined and reported: in the run's summary and as an event of `step`.
    private mutating func setAside(_ reason: String, step: String = "quarantine") -> [Action] {
        state = .finished(.quarantined(reason))
        return [
            .record(.quarantined(reason: reason)), .tally(.quarantined(reason: reason)),
            .emit(LandingEvent(step: step, outcome: "quarantined", message: reason)),
        ]
    }

    /// Quarantined before anything was applied, without a report (the patch never reached the queue's work).
    private mutating func discard(_ reason: String) -> [Action] {
        state = .finished(.quarantined(reason))
        return [.record(.quarantined(reason: reason))]
    }

    /// After a failed attempt: back to the queue, or quarantined once the attempts are used up.
    private mutating func retryOrQuarantine(attempts: Int, reason: String) -> [Action] {
        if attempts >= plan.maxApplyAttempts {
            return setAside("\(reason) (after \(attempts) attempts)")
        }
        state = .finished(.requeued(attempts: attempts))
        return [
            .record(.queued), .tally(.requeued),
            .emit(
                LandingEvent(
                    step: "requeue", outcome: "queued",
                    message: "attempt \(attempts) of \(plan.maxApplyAttempts) failed")),
        ]
    }

    private mutating func stop(_ error: SluiceError) -> [Action] {
        state = .stopped(error)
        return [.stop(error)]
    }

    private func refuse(_ input: Input) -> [Action] {
        [.refuse(Refusal(state: state.name, input: input.name))]
    }
}
