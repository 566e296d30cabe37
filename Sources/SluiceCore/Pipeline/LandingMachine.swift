/// The landing of one queued patch, as a value: reset the run's workspace to the target branch's
/// head, apply the patch there (merging it from the commit it was made on when it does not apply),
/// judge what git staged, run the gates one by one, check that the branch has not moved and that
/// the gates left the tested tree as it was, commit that tree, move the branch with a
/// compare-and-swap, and let a clean checkout of the branch follow.
///
/// It does no I/O. ``receive(_:)`` takes the result of the last action and returns what to do
/// next; the caller performs the actions in order. Of the actions one call returns, at most the
/// last ``Action/awaitsInput``: its result is the next input. A state that is not terminal always
/// waits for exactly one input; an input the state does not wait for is refused
/// (``Action/refuse(_:)``) and changes nothing.
public struct LandingMachine: Sendable {
    /// What the landing works with, fixed for its whole course.
    public struct Plan: Hashable, Sendable {
        public var ledgerID: LedgerID
        /// The target branch's head the patch is applied on, and the old value of the compare-and-swap.
        public var base: String
        /// The target branch, without `refs/heads/`.
        public var branch: String
        /// The repository's top directory (its checkout follows the branch when it is checked out there).
        public var repository: String
        /// The run's workspace: a git worktree reset to `base` for this patch.
        public var workspace: String
        /// The names of the configured gates, in the order they run.
        public var gates: [String]
        /// Whether a patch may land with no gate configured.
        public var allowUngated: Bool
        /// Failed attempts after which the patch is quarantined instead of requeued.
        public var maxApplyAttempts: Int
        /// The configuration file's name, for messages.
        public var configFile: String
        /// A merge queue's batch: the patch is applied on `base` (the commit of the patch below it, or
        /// the branch's head), judged and committed there, and its course ends
        /// ``Outcome/stacked(commit:tree:)``, with no gate run and nothing landed.
        public var stackOnly: Bool

        public init(
            ledgerID: LedgerID, base: String, config: SluiceConfig, repository: String, workspace: String,
            configFile: String = "sluice.yml", stackOnly: Bool = false
        ) {
            self.stackOnly = stackOnly
            self.ledgerID = ledgerID
            self.base = base
            self.branch = config.targetBranch
            self.repository = repository
            self.workspace = workspace
            self.gates = config.gates.map(\.name)
            self.allowUngated = config.allowUngated
            self.maxApplyAttempts = config.policy.maxApplyAttempts
            self.configFile = configFile
        }
    }

    /// Where the landing is; each state holds only what is valid in it.
    public indirect enum State: Hashable, Sendable {
        /// Nothing started: waits for ``Input/start(_:)`` or ``Input/resume(tested:)``.
        case idle
        /// Bringing the workspace to the base, then applying (or merging).
        case resettingWorkspace(Reset)
        /// `git apply --index --3way` in the workspace.
        case applying(Patch)
        /// The patch applied on the commit it was made on and merged onto the base (`git merge-tree`).
        case merging(Patch, firstFailure: GitOutput)
        /// `git read-tree --reset -u` of the merged tree into the workspace.
        case readingMergedTree(Patch)
        /// `git write-tree`: the tree git staged.
        case writingTree(Patch)
        /// What git staged, judged under the base's policy before any gate runs.
        case inspecting(diff: UnifiedDiff, tree: String)
        /// One gate runs; those before it passed.
        case gating(Gating)
        /// The branch must still be at the base the gates ran on.
        case checkingBranch(Tested)
        /// The workspace's files must still be the tree the gates ran on (`git diff --quiet TREE`).
        case checkingTree(Tested)
        /// The tested tree is being committed on the base.
        case committing(Tested)
        /// A failed attempt is being recorded; its count decides between the queue and quarantine.
        case recordingFailedAttempt(reason: String, then: LandingEvent?)
        /// Whether the branch is checked out in the repository, and clean there.
        case checkingCheckout(Landing)
        /// `git update-ref BRANCH TESTED BASE`: the compare-and-swap.
        case landing(Landing, checkedOut: Bool)
        /// `git read-tree -m -u BASE TESTED` in the repository's checkout.
        case movingCheckout(Landing)
        /// The patch's course in this run is over. Terminal.
        case finished(Outcome)
        /// The run cannot go on; the error says why. Terminal.
        case stopped(SluiceError)

        /// Whether no input moves it any more.
        public var isTerminal: Bool {
            switch self {
            case .finished, .stopped: true
            default: false
            }
        }

        /// The state's name, for messages.
        public var name: String {
            switch self {
            case .idle: "idle"
            case .resettingWorkspace: "resetting the workspace"
            case .applying: "applying"
            case .merging: "merging"
            case .readingMergedTree: "reading the merged tree"
            case .writingTree: "writing the tree"
            case .inspecting: "inspecting the applied change"
            case .gating(let gating): "running gate \(gating.index + 1)"
            case .checkingBranch: "checking the branch"
            case .checkingTree: "checking the tested tree"
            case .committing: "committing"
            case .recordingFailedAttempt: "recording a failed attempt"
            case .checkingCheckout: "checking the checkout"
            case .landing: "landing"
            case .movingCheckout: "moving the checkout"
            case .finished: "finished"
            case .stopped: "stopped"
            }
        }
    }

    /// The results of actions, and the two ways to begin.
    public enum Input: Hashable, Sendable {
        /// Begin processing a queued patch.
        case start(Start)
        /// Begin at the compare-and-swap: a verified patch whose tested commit exists, found by
        /// recovery with the branch still at its base.
        case resume(tested: String)
        /// Whether the workspace exists (``Action/probeWorkspace``).
        case workspaceProbed(exists: Bool)
        /// The workspace was made anew at the commit asked (``Action/recreateWorkspace(at:)``).
        case workspaceRecreated
        /// What the git command asked for (``Action/git(_:)``) printed and how it exited.
        case git(GitOutput)
        /// The merged tree, or nil when the patch does not apply on its base or conflicts (``Action/merge(bytes:madeOn:onto:)``).
        case merged(tree: String?)
        /// The patch's attempts, counted with the failure just recorded.
        case failedAttemptRecorded(attempts: Int)
        /// What the applied change was judged to be (``Action/inspect(diff:tree:)``).
        case inspected(Judgement)
        /// How a gate ended (``Action/runGate(index:name:checkVanishedTests:)``).
        case gateFinished(GateVerdict)
        /// The commit of the tested tree on the base (``Action/makeCommit(tree:verdicts:)``).
        case commitMade(String)
        /// An action could not be carried out.
        case failed(SluiceError)

        /// The input's name, for messages.
        public var name: String {
            switch self {
            case .start: "start"
            case .resume: "resume"
            case .workspaceProbed: "workspace probed"
            case .workspaceRecreated: "workspace recreated"
            case .git: "git result"
            case .merged: "merged"
            case .failedAttemptRecorded: "failed attempt recorded"
            case .inspected: "inspected"
            case .gateFinished(let verdict): "gate \(verdict.name) finished"
            case .commitMade: "commit made"
            case .failed: "failed"
            }
        }
    }

    /// What to do.
    public enum Action: Hashable, Sendable {
        /// Find whether the workspace exists. Answer: ``Input/workspaceProbed(exists:)``.
        case probeWorkspace
        /// Remove every workspace and make the run's anew at a commit. Answer: ``Input/workspaceRecreated``.
        case recreateWorkspace(at: String)
        /// Run a git command. Answer: ``Input/git(_:)``.
        case git(GitCommand)
        /// Apply the patch on the commit it was made on and merge that onto the base. Answer: ``Input/merged(tree:)``.
        case merge(bytes: [UInt8], madeOn: String, onto: String)
        /// Judge the change git staged. Answer: ``Input/inspected(_:)``.
        case inspect(diff: UnifiedDiff, tree: String)
        /// Run a gate in the workspace. Answer: ``Input/gateFinished(_:)``.
        case runGate(index: Int, name: String, checkVanishedTests: Bool)
        /// Commit the tested tree on the base with the patch's message and trailers. Answer: ``Input/commitMade(_:)``.
        case makeCommit(tree: String, verdicts: [GateVerdict])
        /// Write to the ledger. ``Record/applyFailed(code:message:)`` is answered with
        /// ``Input/failedAttemptRecorded(attempts:)``; the others have no answer.
        case record(Record)
        /// Count in the run's summary.
        case tally(Tally)
        /// Report a step of the pipeline.
        case emit(LandingEvent)
        /// Stop the run with this error.
        case stop(SluiceError)
        /// The input was not one the state waits for; nothing changed.
        case refuse(Refusal)

        /// Whether the action's result is the machine's next input.
        public var awaitsInput: Bool {
            switch self {
            case .probeWorkspace, .recreateWorkspace, .git, .merge, .inspect, .runGate, .makeCommit: true
            case .record(.applyFailed): true
            case .record, .tally, .emit, .stop, .refuse: false
            }
        }
    }

    /// The state now.
    public internal(set) var state: State
    /// What the landing works with.
    public let plan: Plan

    /// A landing that has not started.
    public init(_ plan: Plan) {
        self.plan = plan
        self.state = .idle
    }

    /// A landing in a given state: for tests that take every state in turn.
    package init(_ plan: Plan, state: State) {
        self.plan = plan
        self.state = state
    }
}

// MARK: - What states, inputs and actions carry

extension LandingMachine {
    /// How a patch starts its course.
    public struct Start: Hashable, Sendable {
        /// The stored diff and what was said of it; nil when none is stored.
        public var source: PatchSource?
        /// Why the gates cannot be sealed as the configuration asks, when they cannot.
        public var sandboxProblem: SluiceError?

        public init(source: PatchSource?, sandboxProblem: SluiceError? = nil) {
            self.source = source
            self.sandboxProblem = sandboxProblem
        }
    }

    /// The patch being applied: its bytes, Sluice's parse of them, the commit it was made on.
    public struct Patch: Hashable, Sendable {
        public var bytes: [UInt8]
        public var diff: UnifiedDiff
        public var madeOn: String?

        public init(bytes: [UInt8], diff: UnifiedDiff, madeOn: String?) {
            self.bytes = bytes
            self.diff = diff
            self.madeOn = madeOn
        }
    }

    /// A reset of the workspace: where it is, and what comes after it.
    public struct Reset: Hashable, Sendable {
        public enum Step: Hashable, Sendable {
            /// Waiting to know whether the workspace exists.
            case probing
            /// `git checkout --force --detach BASE`.
            case checkingOut
            /// `git clean -ffdxq`; `checkedOut` says whether the checkout succeeded.
            case cleaning(checkedOut: Bool)
            /// The workspace is being made anew.
            case recreating
        }

        /// What the reset is for.
        public enum Purpose: Hashable, Sendable {
            /// Applying the patch on the base.
            case apply
            /// Merging it from the commit it was made on, after `git apply` failed with `firstFailure`.
            case merge(firstFailure: GitOutput)
        }

        public var step: Step
        public var purpose: Purpose
        public var patch: Patch

        public init(step: Step, purpose: Purpose, patch: Patch) {
            self.step = step
            self.purpose = purpose
            self.patch = patch
        }
    }

    /// Gates running on the applied tree.
    public struct Gating: Hashable, Sendable {
        public var tree: String
        /// The gate running now.
        public var index: Int
        /// The verdicts of the gates before it, all passed.
        public var verdicts: [GateVerdict]
        /// Whether tests that passed on the branch must run (no person approved the patch).
        public var checkVanishedTests: Bool

        public init(tree: String, index: Int, verdicts: [GateVerdict], checkVanishedTests: Bool) {
            self.tree = tree
            self.index = index
            self.verdicts = verdicts
            self.checkVanishedTests = checkVanishedTests
        }
    }

    /// A tree every gate passed.
    public struct Tested: Hashable, Sendable {
        public var tree: String
        public var verdicts: [GateVerdict]

        public init(tree: String, verdicts: [GateVerdict]) {
            self.tree = tree
            self.verdicts = verdicts
        }
    }

    /// A commit being landed.
    public struct Landing: Hashable, Sendable {
        /// The commit of the tested tree on the base.
        public var tested: String
        /// Whether the `done` event follows (not when recovery lands a patch verified by a killed run).
        public var reportsDone: Bool

        public init(tested: String, reportsDone: Bool) {
            self.tested = tested
            self.reportsDone = reportsDone
        }
    }

    /// How the patch's course in this run ended.
    public enum Outcome: Hashable, Sendable {
        /// The branch is at this commit.
        case landed(String)
        /// Back in the queue after this many failed attempts.
        case requeued(attempts: Int)
        /// Quarantined (rejected, or set aside) with this reason.
        case quarantined(String)
        /// Applied and committed on the plan's base, for its batch's gates (``Plan/stackOnly``).
        case stacked(commit: String, tree: String)
        /// Back in the queue, not blamed: the target branch fails the gate without the patch (the reason).
        case heldBack(String)
    }

    /// What the inspection of the applied change found.
    public struct Judgement: Hashable, Sendable {
        /// Failures (format, scope, constraints), as `code: path: message`.
        public var issues: [String]
        /// Paths that need a person's approval.
        public var reviews: [String]
        /// Whether a person approved the patch.
        public var approved: Bool

        public init(issues: [String] = [], reviews: [String] = [], approved: Bool = false) {
            self.issues = issues
            self.reviews = reviews
            self.approved = approved
        }
    }

    /// A write to the ledger.
    public enum Record: Hashable, Sendable {
        /// Applied in the workspace on the base, with the paths it changes (and the base, in the same unit).
        case applied(files: [String])
        /// A failed attempt.
        case applyFailed(code: String, message: String)
        /// The verification failed.
        case failed(reason: String)
        /// The gates passed on this commit's tree: verified, with the commit, in one unit of work.
        case tested(commit: String, reason: String)
        /// Quarantined, its diff, logs and reason kept.
        case quarantined(reason: String)
        /// Back in the queue.
        case queued
        /// Landed as this commit: committed, with the commit, in one unit of work.
        case landed(commit: String)
        /// Back in the queue because the target branch is red (the reason); the patch is not blamed.
        case heldBack(reason: String)
    }

    /// A count in the run's summary.
    public enum Tally: Hashable, Sendable {
        case landed
        case quarantined(reason: String)
        case requeued
        case gateSeconds(Double)
        /// The target branch fails its own gate (why): the run stops before the next patch.
        case redBranch(String)
    }

    /// An input the state does not wait for.
    public struct Refusal: Error, Hashable, Sendable, CustomStringConvertible {
        public var state: String
        public var input: String

        public init(state: String, input: String) {
            self.state = state
            self.input = input
        }

        public var description: String { "the landing, \(state), cannot take \(input)" }
    }
}

/// How a gate ended, as the landing needs it.
public struct GateVerdict: Hashable, Sendable {
    public var name: String
    public var state: GateState
    /// The decision's reason, or the error.
    public var reason: String?
    /// Tests passed and run, when the gate had results.
    public var passedTests: Int?
    public var totalTests: Int?
    /// How long it ran.
    public var seconds: Double
    /// Set when the gate failed and fails on the target branch without the patch too: why.
    public var redBranch: String?
    /// Set when the gate passed on a rerun after failing: the tests that failed, then passed.
    public var flakyTests: [String]?

    public init(
        name: String, state: GateState, reason: String? = nil, passedTests: Int? = nil, totalTests: Int? = nil,
        seconds: Double = 0, redBranch: String? = nil, flakyTests: [String]? = nil
    ) {
        self.redBranch = redBranch
        self.flakyTests = flakyTests
        self.name = name
        self.state = state
        self.reason = reason
        self.passedTests = passedTests
        self.totalTests = totalTests
        self.seconds = seconds
    }
}

/// A step of the landing to report: `step`, its outcome and a sentence.
public struct LandingEvent: Hashable, Sendable {
    /// Which time goes with it.
    public enum Timing: Hashable, Sendable {
        case none
        /// Since the patch's processing started.
        case sinceStart
        case seconds(Double)
    }

    public var step: String
    public var outcome: String
    public var message: String
    public var timing: Timing

    public init(step: String, outcome: String, message: String, timing: Timing = .none) {
        self.step = step
        self.outcome = outcome
        self.message = message
        self.timing = timing
    }
}
