import SluiceCore
import Testing

/// The landing as a value: every state against every input, and each path (the three races among
/// them) driven input by input, with no git, no process and no ledger.
@Suite("Landing state machine")
struct LandingMachineTests {
    typealias Machine = LandingMachine
    typealias Input = LandingMachine.Input
    typealias State = LandingMachine.State
    typealias Action = LandingMachine.Action

    static let base = String(repeating: "b", count: 40)
    static let moved = String(repeating: "m", count: 40)
    static let tree = String(repeating: "e", count: 40)
    static let tested = String(repeating: "c", count: 40)
    static let id = try! LedgerID(parsing: "01JBQ4Z3N8W6T1X9R5K2M7V0AB")
    static let bytes = Array("--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n".utf8)
    static let diff = try! DiffParser.parse(bytes)
    static let patch = Machine.Patch(bytes: bytes, diff: diff, madeOn: nil)

    static func plan(gates: [String] = ["unit", "lint"], allowUngated: Bool = false) -> Machine.Plan {
        var config = SluiceConfig(targetBranch: "main")
        config.gates = gates.map { GateConfig(name: $0, type: .custom, command: "true") }
        config.allowUngated = allowUngated
        config.policy.maxApplyAttempts = 3
        return Machine.Plan(
            ledgerID: id, base: base, config: config, repository: "/repo", workspace: "/scratch/run")
    }

    static func passed(_ name: String) -> GateVerdict {
        GateVerdict(name: name, state: .passed, reason: "all criteria met", passedTests: 2, totalTests: 2, seconds: 1.5)
    }

    static let status = "# branch.oid \(base)\0# branch.head main\0"

    // MARK: - Every state against every input

    /// One of each state (and each step of the workspace reset).
    static let states: [State] = [
        .idle,
        .resettingWorkspace(.init(step: .probing, purpose: .apply, patch: patch)),
        .resettingWorkspace(.init(step: .checkingOut, purpose: .apply, patch: patch)),
        .resettingWorkspace(.init(step: .cleaning(checkedOut: true), purpose: .apply, patch: patch)),
        .resettingWorkspace(.init(step: .recreating, purpose: .merge(firstFailure: .failure(1, "no")), patch: patch)),
        .applying(patch),
        .merging(patch, firstFailure: .failure(1, "does not apply")),
        .readingMergedTree(patch),
        .writingTree(patch),
        .inspecting(diff: diff, tree: tree),
        .gating(.init(tree: tree, index: 0, verdicts: [], checkVanishedTests: true)),
        .gating(.init(tree: tree, index: 1, verdicts: [passed("unit")], checkVanishedTests: true)),
        .checkingBranch(.init(tree: tree, verdicts: [passed("unit"), passed("lint")])),
        .checkingTree(.init(tree: tree, verdicts: [passed("unit"), passed("lint")])),
        .committing(.init(tree: tree, verdicts: [passed("unit"), passed("lint")])),
        .recordingFailedAttempt(reason: "the target branch kept moving", then: nil),
        .checkingCheckout(.init(tested: tested, reportsDone: true)),
        .landing(.init(tested: tested, reportsDone: true), checkedOut: true),
        .movingCheckout(.init(tested: tested, reportsDone: true)),
        .finished(.landed(tested)),
        .stopped(SluiceError(code: .blocked, message: "stopped")),
    ]

    /// One of each input, with each kind of result (success and failure).
    static let inputs: [Input] = [
        .start(.init(source: PatchSource(bytes: bytes))),
        .resume(tested: tested),
        .workspaceProbed(exists: true), .workspaceProbed(exists: false),
        .workspaceRecreated,
        .git(.success(base)), .git(.failure(1, "fatal: no")),
        .merged(tree: tree), .merged(tree: nil),
        .failedAttemptRecorded(attempts: 1), .failedAttemptRecorded(attempts: 3),
        .inspected(.init()), .inspected(.init(issues: ["scope: x: no"])),
        .gateFinished(passed("unit")), .gateFinished(GateVerdict(name: "unit", state: .failed, reason: "1 failure")),
        .gateFinished(passed("lint")),
        .commitMade(tested),
        .failed(SluiceError(code: .storage, message: "disk full")),
    ]

    /// The table: which inputs each state waits for (``Input/failed`` stops any state that has not ended).
    static func waits(_ state: State, for input: Input) -> Bool {
        if case .failed = input { return !state.isTerminal }
        switch (state, input) {
        case (.idle, .start), (.idle, .resume): return true
        case (.resettingWorkspace(let reset), .workspaceProbed): return reset.step == .probing
        case (.resettingWorkspace(let reset), .workspaceRecreated): return reset.step == .recreating
        case (.resettingWorkspace(let reset), .git):
            return reset.step == .checkingOut || reset.step == .cleaning(checkedOut: true)
        case (.merging, .merged), (.inspecting, .inspected), (.committing, .commitMade),
            (.recordingFailedAttempt, .failedAttemptRecorded):
            return true
        case (.gating(let gating), .gateFinished(let verdict)): return verdict.name == ["unit", "lint"][gating.index]
        case (.applying, .git), (.readingMergedTree, .git), (.writingTree, .git), (.checkingBranch, .git),
            (.checkingTree, .git), (.checkingCheckout, .git), (.landing, .git), (.movingCheckout, .git):
            return true
        default: return false
        }
    }

    @Test(
        "every state answers every input: a transition where the table says so, else a refusal that changes nothing",
        arguments: states, inputs)
    func everyStateEveryInput(state: State, input: Input) {
        var machine = Machine(Self.plan(), state: state)
        let actions = machine.receive(input)
        guard Self.waits(state, for: input) else {
            #expect(actions == [.refuse(.init(state: state.name, input: input.name))])
            #expect(machine.state == state)
            return
        }
        #expect(!actions.isEmpty, "silently ignored")
        #expect(!actions.contains { if case .refuse = $0 { true } else { false } })
        // Only the last action may wait for a result, and a landing that has not ended waits for one.
        #expect(actions.dropLast().allSatisfy { !$0.awaitsInput })
        #expect(actions.last?.awaitsInput == !machine.state.isTerminal)
        // It stops exactly when it says so.
        let stops = actions.contains { if case .stop = $0 { true } else { false } }
        #expect(stops == (machine.state.name == "stopped"))
    }

    @Test("a landing that ended takes nothing more, whatever comes", arguments: inputs)
    func terminalIsFinal(input: Input) {
        for state in [
            State.finished(.requeued(attempts: 1)), .finished(.quarantined("no")),
            .stopped(.init(code: .blocked, message: "x")),
        ] {
            var machine = Machine(Self.plan(), state: state)
            #expect(machine.receive(input) == [.refuse(.init(state: state.name, input: input.name))])
            #expect(machine.state == state)
        }
    }

    // MARK: - Driving it

    /// Feeds `inputs` in order; every one of them must be taken (not refused). Returns every action.
    @discardableResult
    func drive(_ machine: inout Machine, _ inputs: [Input], sourceLocation: SourceLocation = #_sourceLocation)
        -> [Action]
    {
        var all: [Action] = []
        for input in inputs {
            let actions = machine.receive(input)
            #expect(
                !actions.contains { if case .refuse = $0 { true } else { false } }, "refused \(input.name)",
                sourceLocation: sourceLocation)
            all += actions
        }
        return all
    }

    /// The inputs that take a patch from the start to two passed gates.
    static let throughGates: [Input] = [
        .start(.init(source: PatchSource(bytes: bytes))), .workspaceProbed(exists: true), .git(.success()),
        .git(.success()), .git(.success()), .git(.success(tree)), .inspected(.init()), .gateFinished(passed("unit")),
        .gateFinished(passed("lint")),
    ]

    func gitCommands(_ actions: [Action]) -> [[String]] {
        actions.compactMap { if case .git(let command) = $0 { command.arguments } else { nil } }
    }

    func records(_ actions: [Action]) -> [Machine.Record] {
        actions.compactMap { if case .record(let record) = $0 { record } else { nil } }
    }

    func events(_ actions: [Action]) -> [LandingEvent] {
        actions.compactMap { if case .emit(let event) = $0 { event } else { nil } }
    }

    @Test("a patch lands: reset, apply, inspect, two gates, branch and tree checks, commit, compare-and-swap, checkout")
    func lands() {
        var machine = Machine(Self.plan())
        var actions = drive(&machine, Self.throughGates)
        #expect(
            gitCommands(actions) == [
                ["checkout", "--quiet", "--force", "--detach", Self.base], ["clean", "-ffdxq"],
                ["apply", "--index", "--3way", "--whitespace=nowarn", "-"], ["write-tree"],
                ["rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}"],
            ])
        #expect(actions.contains(.runGate(index: 0, name: "unit", checkVanishedTests: true)))
        #expect(actions.contains(.runGate(index: 1, name: "lint", checkVanishedTests: true)))
        actions = drive(&machine, [.git(.success(Self.base)), .git(.success())])
        #expect(actions.last == .makeCommit(tree: Self.tree, verdicts: [Self.passed("unit"), Self.passed("lint")]))
        actions = drive(
            &machine, [.commitMade(Self.tested), .git(GitOutput(status: 0, stdout: Array(Self.status.utf8)))])
        #expect(
            records(actions) == [.tested(commit: Self.tested, reason: "all gates passed")])
        #expect(
            gitCommands(actions).last == [
                "update-ref", "-m", "sluice: land \(Self.id)", "refs/heads/main", Self.tested, Self.base,
            ])
        actions = drive(&machine, [.git(.success())])
        #expect(records(actions) == [.landed(commit: Self.tested)])
        #expect(gitCommands(actions) == [["read-tree", "-m", "-u", Self.base, Self.tested]])
        actions = drive(&machine, [.git(.success())])
        #expect(events(actions).map(\.step) == ["done"])
        #expect(machine.state == .finished(.landed(Self.tested)))
    }

    // MARK: - The three races

    @Test(
        "race: the branch moved while the gates ran: no compare-and-swap, the attempt fails and the patch is requeued")
    func branchMovedDuringGates() {
        var machine = Machine(Self.plan())
        drive(&machine, Self.throughGates)
        var actions = drive(&machine, [.git(.success(Self.moved))])
        #expect(
            actions == [
                .record(.applyFailed(code: "branch_moved", message: "main moved while the gates ran; re-applying"))
            ])
        actions = drive(&machine, [.failedAttemptRecorded(attempts: 1)])
        #expect(records(actions) == [.queued])
        #expect(actions.contains(.tally(.requeued)))
        #expect(events(actions).map(\.message) == ["attempt 1 of 3 failed"])
        #expect(machine.state == .finished(.requeued(attempts: 1)))
    }

    @Test("race: the branch moved on the last attempt: quarantined, saying it kept moving")
    func branchKeptMoving() {
        var machine = Machine(Self.plan())
        drive(&machine, Self.throughGates)
        // rev-parse finds no branch at all (deleted meanwhile): moved too.
        drive(&machine, [.git(.failure(1))])
        let actions = drive(&machine, [.failedAttemptRecorded(attempts: 3)])
        let reason = "the target branch kept moving (after 3 attempts)"
        #expect(records(actions) == [.quarantined(reason: reason)])
        #expect(machine.state == .finished(.quarantined(reason)))
    }

    @Test("race: the gates changed the tested tree (git diff --quiet TREE fails): refused, nothing committed")
    func gatesChangedTree() {
        for (output, how) in [
            (GitOutput.failure(1), "git diff"), (.failure(128, "fatal: bad object\n"), "fatal: bad object"),
        ] {
            var machine = Machine(Self.plan())
            drive(&machine, Self.throughGates + [.git(.success(Self.base))])
            let actions = drive(&machine, [.git(output)])
            let reason =
                "the gates changed tracked files they tested (\(how)); what would land is not what was tested"
            #expect(
                records(actions) == [.failed(reason: reason), .quarantined(reason: reason)])
            #expect(!actions.contains { $0.awaitsInput }, "nothing committed, no branch moved")
            #expect(machine.state == .finished(.quarantined(reason)))
        }
    }

    @Test("race: update-ref lost to another writer: set aside as moved while landing, never recorded as landed")
    func updateRefLost() {
        var machine = Machine(Self.plan())
        drive(&machine, Self.throughGates + [.git(.success(Self.base)), .git(.success()), .commitMade(Self.tested)])
        drive(&machine, [.git(GitOutput(status: 0, stdout: Array(Self.status.utf8)))])
        let actions = drive(&machine, [.git(.failure(128, "fatal: cannot lock ref 'refs/heads/main'"))])
        let reason = "main moved while the patch was landing; resubmit it"
        #expect(records(actions) == [.quarantined(reason: reason)])
        #expect(events(actions).map(\.step) == ["land", "done"])
        #expect(gitCommands(actions).isEmpty, "the checkout does not move")
        #expect(machine.state == .finished(.quarantined(reason)))
    }

    // MARK: - Other paths

    @Test("a conflict is a failed attempt: reported after it is recorded, then requeued or quarantined")
    func conflict() {
        var machine = Machine(Self.plan())
        drive(&machine, Array(Self.throughGates.prefix(4)))
        var actions = drive(&machine, [.git(.failure(1, "error: patch failed: notes.txt:1"))])
        let message = "does not apply on \(Self.base): error: patch failed: notes.txt:1"
        #expect(actions == [.record(.applyFailed(code: "conflict", message: message))])
        actions = drive(&machine, [.failedAttemptRecorded(attempts: 2)])
        #expect(events(actions).map(\.step) == ["apply", "requeue"])
        #expect(machine.state == .finished(.requeued(attempts: 2)))
    }

    @Test("a patch that does not apply is merged from the commit it was made on, in a workspace reset again")
    func mergesFromItsBase() {
        var machine = Machine(Self.plan())
        let made = String(repeating: "a", count: 40)
        var actions = drive(
            &machine,
            [
                .start(.init(source: PatchSource(bytes: Self.bytes, madeOn: made))), .workspaceProbed(exists: false),
                .workspaceRecreated, .git(.failure(1, "first")),
            ])
        #expect(actions.filter { $0 == .recreateWorkspace(at: Self.base) }.count == 1)
        #expect(actions.last == .probeWorkspace)
        // The reset's checkout fails: it still cleans, then makes the workspace anew.
        actions = drive(&machine, [.workspaceProbed(exists: true), .git(.failure(1)), .git(.success())])
        #expect(actions.last == .recreateWorkspace(at: Self.base))
        actions = drive(&machine, [.workspaceRecreated])
        #expect(actions == [.merge(bytes: Self.bytes, madeOn: made, onto: Self.base)])
        actions = drive(&machine, [.merged(tree: Self.tree), .git(.success())])
        #expect(gitCommands(actions).first == ["read-tree", "--reset", "-u", Self.tree])
        #expect(machine.state == .writingTree(Machine.Patch(bytes: Self.bytes, diff: Self.diff, madeOn: made)))

        // Merged into nothing: the conflict is the first application's.
        var other = Machine(Self.plan())
        drive(
            &other,
            [
                .start(.init(source: PatchSource(bytes: Self.bytes, madeOn: made))), .workspaceProbed(exists: false),
                .workspaceRecreated, .git(.failure(1, "first")), .workspaceProbed(exists: false), .workspaceRecreated,
            ])
        #expect(
            other.receive(.merged(tree: nil)) == [
                .record(.applyFailed(code: "conflict", message: "does not apply on \(Self.base): first"))
            ])
    }

    @Test("what git staged is refused before any gate runs, or held for a person unless approved")
    func inspection() {
        var refused = Machine(Self.plan())
        drive(&refused, Array(Self.throughGates.prefix(6)))
        let actions = refused.receive(.inspected(.init(issues: ["a", "b"])))
        #expect(records(actions).first == .failed(reason: "refused: a; b"))
        #expect(!actions.contains { if case .runGate = $0 { true } else { false } })

        var held = Machine(Self.plan())
        drive(&held, Array(Self.throughGates.prefix(6)))
        _ = held.receive(.inspected(.init(reviews: ["review_required: x"])))
        #expect(
            held.state
                == .finished(
                    .quarantined(
                        "needs a person's approval: review_required: x; resubmit it and approve it with `sluice patch approve`"
                    )))

        var approved = Machine(Self.plan())
        drive(&approved, Array(Self.throughGates.prefix(6)))
        #expect(
            approved.receive(.inspected(.init(reviews: ["review_required: x"], approved: true))) == [
                .runGate(index: 0, name: "unit", checkVanishedTests: false)
            ])
    }

    @Test("a failed gate stops the gates and quarantines the patch, naming the gate")
    func gateFails() {
        var machine = Machine(Self.plan())
        drive(&machine, Array(Self.throughGates.prefix(7)))
        let actions = machine.receive(.gateFinished(GateVerdict(name: "unit", state: .failed, reason: "1 failed")))
        #expect(actions.first == .tally(.gateSeconds(0)))
        #expect(machine.state == .finished(.quarantined("gate unit failed: 1 failed")))
        #expect(!actions.contains { if case .runGate = $0 { true } else { false } })
    }

    @Test("a gate that fails on the target branch without the patch too holds the patch back, unblamed")
    func redBranchHoldsBack() {
        var machine = Machine(Self.plan())
        drive(&machine, Array(Self.throughGates.prefix(7)))
        let red = "main at 0123 fails gate unit without the patch too"
        let actions = machine.receive(
            .gateFinished(GateVerdict(name: "unit", state: .failed, reason: "1 failed", redBranch: red)))
        #expect(machine.state == .finished(.heldBack(red)))
        #expect(actions.contains(.record(.heldBack(reason: red))) && actions.contains(.tally(.redBranch(red))))
        // Neither failed nor quarantined: the patch is not blamed.
        #expect(!actions.contains { if case .record(.failed) = $0 { true } else { false } })
        #expect(!actions.contains { if case .record(.quarantined) = $0 { true } else { false } })
        #expect(
            machine.receive(.gateFinished(Self.passed("unit"))).first.map {
                if case .refuse = $0 { true } else { false }
            } == true)
    }

    @Test("a dirty checkout of the branch stops the run before the branch moves; another branch's is left alone")
    func checkout() {
        var dirty = Machine(Self.plan())
        drive(&dirty, [.resume(tested: Self.tested)])
        let changed = Self.status + "1 .M N... 100644 100644 100644 \(Self.base) \(Self.base) README.md\0"
        let actions = dirty.receive(.git(GitOutput(status: 0, stdout: Array(changed.utf8))))
        guard case .stop(let error) = actions.first else {
            Issue.record("did not stop: \(actions)")
            return
        }
        #expect(error.code == .blocked && error.message.contains("with uncommitted changes (1 files)"))

        var elsewhere = Machine(Self.plan())
        drive(&elsewhere, [.resume(tested: Self.tested)])
        let other = "# branch.head topic\0" + "1 .M N... 100644 100644 100644 \(Self.base) \(Self.base) README.md\0"
        drive(&elsewhere, [.git(GitOutput(status: 0, stdout: Array(other.utf8)))])
        let landed = drive(&elsewhere, [.git(.success())])
        #expect(gitCommands(landed).isEmpty, "the checkout of another branch does not move")
        #expect(events(landed).map(\.step) == ["land"], "recovery's landing reports no done")
        #expect(elsewhere.state == .finished(.landed(Self.tested)))
    }

    @Test("a checkout that cannot follow the landed branch stops the run and says the next run repairs it")
    func checkoutCannotFollow() {
        var machine = Machine(Self.plan())
        drive(&machine, [.resume(tested: Self.tested), .git(GitOutput(status: 0, stdout: Array(Self.status.utf8)))])
        drive(&machine, [.git(.success())])
        let actions = machine.receive(.git(.failure(128, "error: Entry 'a' not uptodate")))
        guard case .stop(let error) = actions.first else {
            Issue.record("did not stop: \(actions)")
            return
        }
        #expect(error.message.contains("could not follow it (error: Entry 'a' not uptodate)"))
    }

    @Test("no gate and no allow_ungated stops before anything; no diff, or one that no longer parses, is quarantined")
    func beginnings() {
        var ungated = Machine(Self.plan(gates: []))
        let stop = ungated.receive(.start(.init(source: PatchSource(bytes: Self.bytes))))
        #expect(stop.count == 1 && ungated.state.name == "stopped")

        var allowed = Machine(Self.plan(gates: [], allowUngated: true))
        drive(&allowed, Array(Self.throughGates.prefix(6)))
        #expect(
            gitCommands(allowed.receive(.inspected(.init()))) == [
                ["rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}"]
            ])

        var missing = Machine(Self.plan())
        #expect(
            missing.receive(.start(.init(source: nil))) == [
                .record(.quarantined(reason: "no diff is stored for this patch"))
            ])
        var broken = Machine(Self.plan())
        _ = broken.receive(.start(.init(source: PatchSource(bytes: Array("not a diff".utf8)))))
        guard case .finished(.quarantined(let reason)) = broken.state else {
            Issue.record("not quarantined: \(broken.state)")
            return
        }
        #expect(reason.hasPrefix("the stored diff no longer parses: "))

        var unsealed = Machine(Self.plan())
        let problem = SluiceError(code: .blocked, message: "cannot run gates sealed")
        #expect(
            unsealed.receive(.start(.init(source: PatchSource(bytes: Self.bytes), sandboxProblem: problem))) == [
                .stop(problem)
            ])
    }

    @Test("a failed write-tree or status stops the run with git's message")
    func checkedCommands() {
        var machine = Machine(Self.plan())
        drive(&machine, Array(Self.throughGates.prefix(5)))
        #expect(
            machine.receive(.git(.failure(128, "fatal: index broken"))) == [
                .stop(SluiceError(code: .blocked, message: "git write-tree failed: fatal: index broken"))
            ])
        var status = Machine(Self.plan())
        drive(&status, [.resume(tested: Self.tested)])
        #expect(
            status.receive(.git(.failure(128))) == [
                .stop(SluiceError(code: .blocked, message: "git status --porcelain=v2 failed: exit 128"))
            ])
    }
}
