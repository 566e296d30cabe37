import Foundation
import SluiceCore
import SluiceStore

/// The executor of ``LandingMachine``: it performs each action the machine returns and gives the
/// machine the result. git goes through ``GitClient``, gates' processes through
/// ``ProcessLaunching``; every write to the ledger goes through ``record(_:_:)``.
extension Pipeline {
    /// One patch's landing in this run: the machine, and what its actions need besides.
    struct LandingCourse {
        var machine: LandingMachine
        let config: SluiceConfig
        /// The gates' bubblewrap; nil runs them unsealed.
        let bubblewrap: String?
        /// The stored diff and what was said of it (for the commit's message).
        var source: PatchSource?
        /// The ledger entry as the patch was applied (for the gates' records and the commit's trailers).
        var entry: PatchLedgerEntry?
        /// The paths the patch applied in this course changes; nil when it resumed after the apply.
        var changedPaths: [String]?
        let started = ContinuousClock.now

        init(machine: LandingMachine, config: SluiceConfig, bubblewrap: String?) {
            self.machine = machine
            self.config = config
            self.bubblewrap = bubblewrap
        }

        var id: LedgerID { machine.plan.ledgerID }
        var plan: LandingMachine.Plan { machine.plan }
    }

    /// Runs a landing from `input` until the machine ends: each action is performed in order, and the
    /// result of the one that awaits it is the next input. An action that fails is reported to the
    /// machine, which stops.
    ///
    /// - Throws: the error the machine stopped with; ``SluiceError`` (`blocked`) when the machine
    ///   refused an input or waited for none before it ended (a defect, never a patch's doing).
    func execute(
        _ course: inout LandingCourse, from input: LandingMachine.Input, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws {
        var next: LandingMachine.Input? = input
        while let input = next {
            next = nil
            for action in course.machine.receive(input) {
                switch action {
                case .stop(let error):
                    throw error
                case .refuse(let refusal):
                    throw SluiceError(code: .blocked, message: "landing patch \(course.id): \(refusal)")
                default:
                    break
                }
                do {
                    if let answer = try await perform(action, &course, &summary, emit: emit) { next = answer }
                } catch let error as SluiceError {
                    for case .stop(let stopped) in course.machine.receive(.failed(error)) { throw stopped }
                    throw error
                }
            }
        }
        guard course.machine.state.isTerminal else {
            throw SluiceError(
                code: .blocked,
                message: "landing patch \(course.id): stopped \(course.machine.state.name) with nothing to wait for")
        }
    }

    /// Performs one action; returns the machine's next input when the action has one.
    private func perform(
        _ action: LandingMachine.Action, _ course: inout LandingCourse, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws -> LandingMachine.Input? {
        switch action {
        case .probeWorkspace:
            let link = (course.plan.workspace as NSString).appendingPathComponent(".git")
            return .workspaceProbed(exists: FileManager.default.fileExists(atPath: link))
        case .recreateWorkspace(let commit):
            try await recreateWorkspace(at: commit)
            return .workspaceRecreated
        case .git(let command):
            return .git(try await git.run(command))
        case .merge(let bytes, let madeOn, let base):
            return .merged(tree: try await merge(bytes, madeOn: madeOn, onto: base))
        case .inspect(let diff, let tree):
            return .inspected(try await inspect(diff, tree: tree, course))
        case .runGate(let index, _, let checkVanishedTests):
            if index == 0 { summary.gateRuns += 1 }
            return .gateFinished(
                try await runGate(index, checkVanishedTests: checkVanishedTests, course, &summary, emit: emit))
        case .makeCommit(let tree, let verdicts):
            return .commitMade(try await makeCommit(tree, verdicts: verdicts, course))
        case .record(let write):
            return try await record(write, &course)
        case .tally(let tally):
            switch tally {
            case .landed: summary.landed.append(course.id.description)
            case .quarantined(let reason):
                summary.quarantined.append(.init(ledgerID: course.id.description, reason: reason))
            case .requeued: summary.requeued += 1
            case .gateSeconds(let seconds): summary.gateSeconds += seconds
            case .redBranch(let reason): summary.redBranch = reason
            }
            return nil
        case .emit(let event):
            let seconds: Double? =
                switch event.timing {
                case .none: nil
                case .sinceStart: (ContinuousClock.now - course.started).inSeconds
                case .seconds(let seconds): seconds
                }
            emit(
                PipelineEvent(
                    step: event.step, ledgerID: course.id, outcome: event.outcome, message: event.message,
                    seconds: seconds))
            return nil
        case .stop, .refuse:
            return nil
        }
    }

    // MARK: - The ledger

    /// Every write the landing makes to the ledger, in one place.
    private func record(_ record: LandingMachine.Record, _ course: inout LandingCourse) async throws
        -> LandingMachine.Input?
    {
        let id = course.id
        switch record {
        case .applied(let files):
            course.changedPaths = files
            course.entry = try await engine.patches.applied(
                id, on: course.plan.base, workspace: course.plan.workspace, files: files)
        case .applyFailed(let code, let message):
            let failed = try await engine.patches.applyFailed(id, code: code, message: message)
            return .failedAttemptRecorded(attempts: try await blamedAttempts(failed))
        case .failed(let reason):
            _ = try await engine.patches.verify(id, passed: false, reason: reason)
        case .tested(let commit, let reason):
            _ = try await engine.patches.verified(id, tested: commit, reason: reason)
        case .quarantined(let reason):
            try await quarantine(id, reason: reason)
        case .queued:
            _ = try await engine.patches.queue(id)
        case .heldBack(let reason):
            _ = try await engine.patches.applyFailed(id, code: "target_red", message: "not blamed: \(reason)")
            _ = try await engine.patches.queue(id)
        case .landed(let commit):
            if let paths = course.changedPaths {
                configurationMemo.carry(from: course.plan.base, to: commit, changing: paths)
            }
            _ = try await engine.patches.committed(id, landed: commit)
            configurationMemo.remember(landed: commit, by: id)
            try await engine.countTowardRelease(landed: id, releaseAfter: course.config.flaky.releaseAfter)
        }
        return nil
    }

    /// Whether a person approved the patch.
    private func approved(_ id: LedgerID) async throws -> Bool {
        try await engine.patches.approver(of: id) != nil
    }

    // MARK: - Steps

    /// Judges what git staged, under the policy of the head it was applied on, before any gate runs.
    private func inspect(_ diff: UnifiedDiff, tree: String, _ course: LandingCourse) async throws
        -> LandingMachine.Judgement
    {
        let judged = try await judge(diff, base: course.plan.base, tree: tree, config: course.config)
        let issues = try await waivingRevertedTests(
            PolicyCheck.issues(of: diff, policy: course.config.policy) + judged.issues, of: course.id)
        return LandingMachine.Judgement(
            issues: issues.map(\.description), reviews: judged.reviews.map(\.description),
            approved: try await approved(course.id))
    }

    /// Runs the configured gate `index` in the workspace, as a TestGate record; a failure is judged
    /// (reruns, the target branch without the patch) before it is the patch's.
    private func runGate(
        _ index: Int, checkVanishedTests: Bool, _ course: LandingCourse, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws -> GateVerdict {
        guard let entry = course.entry, course.config.gates.indices.contains(index) else {
            throw SluiceError(
                code: .blocked, message: "landing patch \(course.id): gate \(index + 1) has no patch applied")
        }
        let gate = course.config.gates[index]
        let workspace = course.plan.workspace
        var greenOnBase: Set<String> = []
        let mustRun = checkVanishedTests ? try await mustRun(gate.name, on: course.plan.base, for: entry) : []
        let (first, seconds) = try await GateRunner(
            engine: engine, runner: processes, inherited: inheritedEnvironment()
        ).run(
            gate, for: entry, in: workspace, logDirectory: path("logs", course.id.description), config: course.config,
            sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: course.bubblewrap), cache: gateCachePath,
            mustRun: mustRun)
        guard case .gating(let gating) = course.machine.state else {
            throw SluiceError(
                code: .blocked, message: "landing patch \(course.id): gate \(index + 1) ran while not gating")
        }
        let judged = try await judge(
            failed: first, index: index, for: entry, tested: GatedTree(commit: course.plan.base, tree: gating.tree),
            base: course.plan.base, config: course.config, bubblewrap: course.bubblewrap, mustRun: mustRun,
            greenOnBase: &greenOnBase, emit: emit)
        summary.gateRuns += judged.runs
        let record = judged.record
        // Named for the gate asked for: a rerun may have ended at a gate before it (`record`).
        return GateVerdict(
            name: gate.name, state: record.state,
            reason: judged.flakyTests.map { "passed on a rerun; flaky: \(Self.list($0))" }
                ?? (record.state == .passed ? record.decision?.reason : judged.blame),
            passedTests: record.results?.passedTests, totalTests: record.results?.totalTests,
            seconds: seconds + judged.seconds, redBranch: judged.red, flakyTests: judged.flakyTests)
    }

    /// Commits the tested tree on the base, with the patch's author and message and Sluice's trailers.
    /// Plumbing: the commit is exactly the tested tree on the base, whatever hooks or config the
    /// workspace has.
    private func makeCommit(_ tree: String, verdicts: [GateVerdict], _ course: LandingCourse) async throws -> String {
        guard let entry = course.entry, let source = course.source else {
            throw SluiceError(code: .blocked, message: "landing patch \(course.id): nothing applied to commit")
        }
        let authorship = try await authorship(of: source)
        let message = commitMessage(entry, source: source, authorship: authorship, verdicts: verdicts)
        return try await git.checked(
            ["commit-tree", tree, "-p", course.plan.base, "-F", "-"], input: Array(message.utf8),
            environment: authorship?.environment ?? [:])
    }
}
