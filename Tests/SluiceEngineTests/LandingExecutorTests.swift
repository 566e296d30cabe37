import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

/// The landing's executor driven by a scripted git: a real ledger, every git command answered from a
/// script at the precise moment a race needs, no gate process started.
@Suite("Landing executor over a scripted git")
struct LandingExecutorTests {
    static let base = String(repeating: "b", count: 40)
    static let moved = String(repeating: "d", count: 40)
    static let tree = String(repeating: "e", count: 40)
    static let tested = String(repeating: "c", count: 40)
    static let blob = String(repeating: "1", count: 40)
    static let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"

    struct Fixture {
        let directory = TemporaryDirectory(prefix: "sluice-scripted")
        let scratch = TemporaryDirectory(prefix: "sluice-scratch")
        let git: ScriptedGit
        let processes: ScriptedProcesses
        let pipeline: Pipeline
        let config: SluiceConfig
        let id: LedgerID
        var engine: Engine { pipeline.engine }

        init(processes: ScriptedProcesses = ScriptedProcesses()) async throws {
            git = ScriptedGit(repository: directory.path)
            self.processes = processes
            let storage = try SQLiteStorage(path: directory.file(".sluice/sluice.db").creatingParent())
            pipeline = Pipeline(
                engine: Engine(EngineContext(storage: storage, actor: "test")), git: git, processes: processes,
                scratchDirectory: scratch.path)
            config = try ConfigLoader.parse(
                """
                target_branch: main
                gates:
                  - name: unit
                    command: run-unit
                  - name: lint
                    command: run-lint
                sandbox: none
                """, defaultBranch: "main")
            let patches = pipeline.engine.patches
            id = try await patches.create(
                project: "p", source: PatchSource(bytes: Array(LandingExecutorTests.diff.utf8))
            )
            .ledgerID
            try await patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
            try await patches.queue(id)
            Self.scriptLanding(git)
        }

        /// Answers for a landing that goes through: the workspace made, the patch applied, the change
        /// git staged is the one declared, the branch still at the base, the tree unchanged, the
        /// branch checked out and clean, the compare-and-swap won, the checkout moved.
        static func scriptLanding(_ git: ScriptedGit) {
            let base = LandingExecutorTests.base
            let tree = LandingExecutorTests.tree
            let blob = LandingExecutorTests.blob
            git.on(["worktree"], answer: .success())
            git.on(["apply", "--index"], answer: .success())
            git.on(["write-tree"], answer: .success(tree))
            git.on(
                ["diff-tree"],
                answer: GitOutput(status: 0, stdout: Array(":100644 100644 \(blob) \(blob) M\0notes.txt\0".utf8)))
            git.on(["rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}"], answer: .success(base))
            git.on(["diff", "--quiet"], answer: .success())
            git.on(["commit-tree", tree, "-p", base], answer: .success(LandingExecutorTests.tested))
            git.on(
                ["status", "--porcelain=v2"],
                answer: GitOutput(status: 0, stdout: Array("# branch.oid \(base)\0# branch.head main\0".utf8)))
            git.on(["update-ref"], answer: .success())
            git.on(["read-tree", "-m", "-u"], answer: .success())
        }

        /// Processes the queued patch as `sluice run` does, collecting its events.
        func process() async throws -> (PipelineSummary, [PipelineEvent]) {
            var summary = PipelineSummary()
            var events: [PipelineEvent] = []
            try await pipeline.process(
                id, configuration: (config, LandingExecutorTests.base),
                bubblewrap: .failure(SandboxUnavailable("not wanted")), &summary
            ) { events.append($0) }
            return (summary, events)
        }

        func entry() async throws -> PatchLedgerEntry { try await engine.patches.get(id) }
        func source() async throws -> PatchSource? { try await engine.context.storage.patchSource(id) }
    }

    @Test("a landing that goes through: every git command in order, the ledger committed, the trailers written")
    func lands() async throws {
        let fixture = try await Fixture()
        let (summary, events) = try await fixture.process()
        #expect(fixture.git.unanswered.isEmpty, "\(fixture.git.unanswered)")
        #expect(summary.landed == [fixture.id.description])
        await #expect(try fixture.entry().state == .committed)
        await #expect(try fixture.source()?.landedCommit == Self.tested)
        #expect(fixture.processes.commands == ["run-unit", "run-lint"])
        #expect(events.map(\.step) == ["apply", "gate", "gate", "land", "done"])
        let commit = try #require(fixture.git.calls("commit-tree").first)
        let message = String(decoding: commit.input ?? [], as: UTF8.self)
        #expect(message.contains("Sluice-Ledger-Id: \(fixture.id)") && message.contains("Sluice-Gate: lint passed"))
        let swap = try #require(fixture.git.calls("update-ref").first)
        #expect(swap.arguments.suffix(3) == ["refs/heads/main", Self.tested, Self.base])
        #expect(
            fixture.git.calls("read-tree", "-m", "-u") == [
                GitCommand(["read-tree", "-m", "-u", Self.base, Self.tested])
            ])
    }

    @Test(
        "a gate measured past its time limit and grace (its run was paused) is charged only those, what its hold covers"
    )
    func gateTimeCapped() async throws {
        // Paused for almost three hours: 10,000 s measured against 600 s and 5 s of grace.
        let fixture = try await Fixture(
            processes: ScriptedProcesses(["run-unit": ProcessOutcome(exitCode: 0, milliseconds: 10_000_000)]))
        _ = try await fixture.process()
        let costs = try await fixture.engine.costs.list()
        let unit = try #require(costs.first { $0.resourceName == "gate:unit" })
        #expect(unit.usage?.quantity == ExactDecimal(units: 605 * ExactDecimal.unitsPerOne))
        #expect(unit.metadata["measured_seconds"] == .number(10_000))
        let lint = try #require(costs.first { $0.resourceName == "gate:lint" })
        #expect(lint.usage?.quantity == ExactDecimal(units: 5 * ExactDecimal.unitsPerOne / 1000))
        #expect(lint.metadata["measured_seconds"] == nil)
    }

    @Test("race: the branch moved while the gates ran: no commit, no compare-and-swap, requeued to be applied again")
    func branchMovedDuringGates() async throws {
        let fixture = try await Fixture()
        // Another writer moves main while the gates run: the check after them finds it elsewhere.
        fixture.git.on(["rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}"], answer: .success(Self.moved))
        let (summary, events) = try await fixture.process()
        #expect(fixture.processes.commands == ["run-unit", "run-lint"])
        #expect(fixture.git.calls("commit-tree").isEmpty && fixture.git.calls("update-ref").isEmpty)
        let entry = try await fixture.entry()
        #expect(entry.state == .queued)
        #expect(entry.apply.lastErrorCode == "branch_moved")
        #expect(
            entry.stateHistory.contains { $0.reason == "branch_moved: main moved while the gates ran; re-applying" })
        #expect(summary.requeued == 1 && summary.landed.isEmpty)
        #expect(events.last.map { [$0.step, $0.message] } == ["requeue", "attempt 1 of 3 failed"])
        await #expect(try fixture.source()?.landedCommit == nil)
    }

    @Test("race: the gates changed the tested tree: refused, quarantined, nothing committed")
    func gatesChangedTree() async throws {
        let fixture = try await Fixture()
        fixture.git.on(["diff", "--quiet"], answer: .failure(1))
        let (summary, _) = try await fixture.process()
        #expect(fixture.git.calls("diff", "--quiet").first?.arguments.last == Self.tree)
        #expect(fixture.git.calls("commit-tree").isEmpty && fixture.git.calls("update-ref").isEmpty)
        let entry = try await fixture.entry()
        #expect(entry.state == .quarantined)
        let reason = "the gates changed tracked files they tested (git diff); what would land is not what was tested"
        #expect(entry.quarantine.quarantineReason == reason)
        #expect(summary.quarantined.map(\.reason) == [reason])
        #expect(entry.validation.testsRan == true && entry.validation.testsPassed == false)
    }

    @Test("race: update-ref lost to another writer: set aside, never recorded as landed, the checkout left alone")
    func updateRefLost() async throws {
        let fixture = try await Fixture()
        let moved = Mutex(false)
        // The branch was at the base when checked; another writer moves it just before the swap.
        fixture.git.on(
            ["update-ref"],
            answer: .failure(128, "fatal: update_ref failed for ref 'refs/heads/main': cannot lock ref"),
            before: { _ in moved.withLock { $0 = true } })
        let (summary, events) = try await fixture.process()
        #expect(moved.withLock { $0 })
        #expect(fixture.git.calls("read-tree", "-m", "-u").isEmpty)
        let entry = try await fixture.entry()
        #expect(entry.state == .quarantined)
        #expect(entry.quarantine.quarantineReason == "main moved while the patch was landing; resubmit it")
        await #expect(try fixture.source()?.testedCommit == Self.tested)
        await #expect(try fixture.source()?.landedCommit == nil)
        #expect(summary.landed.isEmpty && summary.quarantined.count == 1)
        #expect(events.suffix(2).map { [$0.step, $0.outcome] } == [["land", "quarantined"], ["done", "ok"]])
    }

    @Test("a git command that cannot run stops the landing with its error; the patch is left applied for recovery")
    func gitCannotRun() async throws {
        let fixture = try await Fixture()
        let failing = FailingGit(wrapping: fixture.git, failing: "diff")
        let pipeline = Pipeline(
            engine: fixture.engine, git: failing, processes: fixture.processes, scratchDirectory: fixture.scratch.path)
        var summary = PipelineSummary()
        await #expect {
            try await pipeline.process(
                fixture.id, configuration: (fixture.config, Self.base),
                bubblewrap: .failure(SandboxUnavailable("not wanted")), &summary
            ) { _ in }
        } throws: { error in
            (error as? SluiceError)?.message == "cannot run git diff: scripted"
        }
        await #expect(try fixture.entry().state == .applied)
        #expect(fixture.git.calls("update-ref").isEmpty)
    }
}

/// A git whose `command` cannot be run at all (as when the binary is missing): it throws.
struct FailingGit: GitClient {
    let wrapping: ScriptedGit
    let failing: String
    var repository: String { wrapping.repository }

    func run(_ command: GitCommand) async throws -> GitOutput {
        if command.arguments.first == failing {
            throw SluiceError(code: .storage, message: "cannot run git \(failing): scripted")
        }
        return try await wrapping.run(command)
    }
}
