import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

@testable import SluiceEngine

/// `flaky.reruns`: a failed gate is rerun before a patch is blamed, and checked on the target branch
/// without the patch; real git repositories and real gate processes.
@Suite("Flake verdicts")
struct FlakyVerdictTests {
    /// Where a flaky gate keeps its count of runs: outside every workspace and cache (each rerun
    /// starts from scratch), so such a gate runs unsealed (`sandbox: none`).
    static func flakyGate(_ counter: String) -> String {
        "if [ -e \(counter) ]; then f=; else touch \(counter); f='<failure message=\"evicted\"/>'; fi; "
            + "if grep -qs -e CULPRIT -e RED *.txt; then g='<failure message=\"culprit\"/>'; else g=; fi; "
            + "printf '<testsuite name=\"t\"><testcase classname=\"cache\" name=\"evicts\">%s</testcase>"
            + "<testcase classname=\"calc\" name=\"adds\">%s</testcase></testsuite>' \"$f\" \"$g\" > results.xml"
    }

    static func config(
        gate: String = "! grep -qs -e CULPRIT -e RED *.txt", results: Bool = false, batchSize: Int = 1,
        criteria: String = "", extra: String = ""
    ) -> String {
        let reported = results ? ", results: results.xml" : ""
        return """
            target_branch: main
            gates:
              - {name: check, type: custom, command: '\(gate.replacingOccurrences(of: "'", with: "''"))'\(reported), criteria: {timeout_seconds: 60\(criteria)}}
            policy: {tests: ["tests/**"], max_apply_attempts: 3}
            logs: {grace_seconds: 1}
            merge_queue: {batch_size: \(batchSize)}
            flaky: {reruns: 1}
            \(extra)
            """
    }

    @Test("a test that fails and then passes on a rerun is flaky: the patch lands, and the test is listed")
    func flakyTestLands() async throws {
        let counter = TemporaryDirectory(prefix: "sluice-flaky")
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: Self.flakyGate(counter.file("ran")), results: true, extra: "sandbox: none"))
        let entries = try await MergeQueueTests().submit(["a"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed == [try #require(entries["a"]).ledgerID.description], "\(summary)")
        #expect(summary.quarantined.isEmpty && summary.redBranch == nil && summary.gateRuns == 2)
        let flaky = try await fixture.engine.flakyTests()
        #expect(flaky.map(\.test) == ["cache.evicts"] && flaky.first?.gate == "check")
        // It ran twice (the failed run and the passing rerun) and flaked once.
        #expect(flaky.first?.flakes == 1 && flaky.first?.runs == 2)
        // The commit says the gate passed on a rerun; the rerun's log is kept beside the first run's.
        let gates = try await fixture.engine.gates.list()
        let rerun = try #require(gates.first { $0.metadata["check"] == .string("rerun 1") })
        #expect(rerun.state == .passed && gates.count == 2)
        let message = try fixture.repository.git("log", "-1", "--format=%B", "main")
        #expect(message.contains("Sluice-Gate: check passed (2/2 tests passed)"), "\(message)")
        #expect(message.contains("Sluice-Flaky: check passed on a rerun after failing cache.evicts"), "\(message)")
        let logs = fixture.repository.path + "/.sluice/logs/" + (try #require(entries["a"])).ledgerID.description
        for log in ["check.log", "check.rerun_1.log"] {
            #expect(FileManager.default.fileExists(atPath: (logs as NSString).appendingPathComponent(log)), "\(log)")
        }
    }

    @Test(
        "a patch that fails again on its rerun and passes on the branch without it is quarantined, every run named",
        arguments: [StoreKind.sqliteFile, .postgres])
    func patchAtFault(kind: StoreKind) async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), storage: try await kind.make())
        let entries = try await MergeQueueTests().submit(["a"], culprits: ["a"], to: fixture)
        let summary = try await fixture.run()
        let id = try #require(entries["a"]).ledgerID
        #expect(summary.quarantined.map(\.ledgerID) == [id.description] && summary.gateRuns == 3, "\(summary)")
        let reason = try #require(try await fixture.engine.patches.get(id).quarantine.quarantineReason)
        #expect(reason.contains("failed again on its rerun") && reason.contains("passes on main"), "\(reason)")
        for gate in try await fixture.engine.gates.list() { #expect(reason.contains(gate.gateID.description)) }
        #expect(try await fixture.engine.status().redBranch == nil)
    }

    @Test(
        "a branch that fails its own gate blames no patch, stops the run, and the queue resumes once it passes",
        arguments: [StoreKind.sqliteFile, .postgres])
    func redBranch(kind: StoreKind) async throws {
        let fixture = try PipelineTests.Fixture(
            config: Self.config(), files: ["broken.txt": "RED\n"], storage: try await kind.make())
        let entries = try await MergeQueueTests().submit(["a", "b"], to: fixture)
        let first = try await fixture.run()
        // a: failed, failed again, and main failed without it: not blamed, back in the queue; b never tried.
        #expect(first.quarantined.isEmpty && first.landed.isEmpty && first.gateRuns == 3, "\(first)")
        let red = try #require(first.redBranch)
        #expect(red.contains("main at") && red.contains("without the patch too"), "\(red)")
        for name in ["a", "b"] {
            #expect(try await fixture.engine.patches.get(try #require(entries[name]).ledgerID).state == .queued)
        }
        // a's attempt on the red branch is not one it is blamed for.
        let held = try await fixture.engine.patches.get(try #require(entries["a"]).ledgerID)
        #expect(held.apply.attempts == 1 && held.apply.lastErrorCode == "target_red")
        #expect(try await fixture.pipeline.blamedAttempts(held) == 0)
        #expect(try await fixture.engine.status().redBranch?.contains("fails gate check") == true)
        // The next run checks the branch first (one gate run), finds it still red, and stops again.
        let second = try await fixture.run()
        #expect(second.landed.isEmpty && second.gateRuns == 1 && second.redBranch != nil, "\(second)")
        // Fixed by hand: the next run's check passes, and both land.
        try fixture.repository.git("rm", "-q", "broken.txt")
        try fixture.repository.git("commit", "-q", "-m", "fix main")
        let third = try await fixture.run()
        #expect(third.landed.count == 2 && third.redBranch == nil && third.quarantined.isEmpty, "\(third)")
        #expect(try await fixture.engine.status().redBranch == nil)
        for name in ["a", "b"] {
            #expect(try await fixture.engine.patches.get(try #require(entries[name]).ledgerID).state == .committed)
        }
    }

    /// What a patch's `code.sh` does in its gate run to dodge the blame.
    static let dodges = [
        // Rewrites the gate's own script to one that puts it back and passes: a rerun in the same
        // workspace would pass.
        "cp gate.sh .orig; printf 'cp .orig gate.sh; rm -f .orig; exit 0\\n' > gate.sh; exit 1",
        // Poisons the shared cache the gate reads: a check of the branch with that cache would fail.
        "echo 'exit 1' > \"$XDG_CACHE_HOME/dep.sh\"; exit 1",
        // Leaves an untracked .gitattributes that garbles a checkout in the same workspace.
        "printf '* working-tree-encoding=UTF-16\\n' > .gitattributes; exit 1",
    ]

    @Test(
        "what a failing patch's gate leaves (files, the cache) neither passes its rerun nor reddens the branch",
        arguments: Self.dodges)
    func leftoversDoNotDodgeBlame(dodge: String) async throws {
        let gate = """
            [ -f "$XDG_CACHE_HOME/dep.sh" ] || echo 'exit 0' > "$XDG_CACHE_HOME/dep.sh"
            sh "$XDG_CACHE_HOME/dep.sh" || exit 1
            sh code.sh
            """
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: "sh gate.sh"), files: ["gate.sh": gate + "\n", "code.sh": "exit 0\n"])
        let diff = try fixture.repository.diff { try $0.write("code.sh", dodge + "\n") }
        let entry = try await fixture.submit(diff)
        let summary = try await fixture.run()
        #expect(summary.quarantined.map(\.ledgerID) == [entry.ledgerID.description], "\(summary)")
        #expect(summary.redBranch == nil && summary.landed.isEmpty)
        let reason = try await fixture.engine.patches.get(entry.ledgerID).quarantine.quarantineReason ?? ""
        #expect(reason.contains("passes on main"), "\(reason)")
        #expect(try await fixture.engine.status().redBranch == nil)
    }

    @Test("with two gates, a rerun that fails at the first blames the patch in words, without stopping the run")
    func rerunFailsAtEarlierGate() async throws {
        let counter = TemporaryDirectory(prefix: "sluice-flaky")
        let ran = counter.file("ran")
        // build passes the first time only; test fails whenever a .txt file says CULPRIT.
        let config = """
            target_branch: main
            gates:
              - {name: build, type: custom, command: 'test ! -e \(ran) && touch \(ran)'}
              - {name: test, type: custom, command: '! grep -qs CULPRIT *.txt'}
            policy: {tests: ["tests/**"], max_apply_attempts: 3}
            logs: {grace_seconds: 1}
            flaky: {reruns: 1}
            sandbox: none
            """
        let fixture = try PipelineTests.Fixture(config: config)
        let entry = try #require(try await MergeQueueTests().submit(["a"], culprits: ["a"], to: fixture)["a"])
        let summary = try await fixture.run()
        // build, test (failed); the rerun: build (failed); main without the patch: build (failed).
        #expect(summary.quarantined.isEmpty && summary.redBranch?.contains("fails gate build") == true, "\(summary)")
        #expect(try await fixture.engine.patches.get(entry.ledgerID).state == .queued)
    }

    @Test("a test that failed again on the rerun, within max_failures, is not called flaky")
    func failingAgainIsNotFlaky() async throws {
        let counter = TemporaryDirectory(prefix: "sluice-flaky")
        let ran = counter.file("ran")
        // First run: t1 and t3 fail; every later run: t3 alone, which max_failures 1 allows.
        let gate =
            "if [ -e \(ran) ]; then a=; else touch \(ran); a='<failure/>'; fi; "
            + "printf '<testsuite><testcase classname=\"s\" name=\"t1\">%s</testcase>"
            + "<testcase classname=\"s\" name=\"t2\"/><testcase classname=\"s\" name=\"t3\"><failure/></testcase>"
            + "</testsuite>' \"$a\" > results.xml"
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: gate, results: true, criteria: ", max_failures: 1", extra: "sandbox: none"))
        _ = try await MergeQueueTests().submit(["a"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 1 && summary.gateRuns == 2, "\(summary)")
        #expect(try await fixture.engine.flakyTests().map(\.test) == ["s.t1"])
        let message = try fixture.repository.git("log", "-1", "--format=%B", "main")
        #expect(
            message.contains("Sluice-Flaky: check passed on a rerun after failing s.t1") && !message.contains("s.t3"))
    }

    @Test("on a red branch an urgent fix is gated alone and lands; then the queue goes on")
    func urgentFixOnRedBranch() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), files: ["broken.txt": "RED\n"])
        let entries = try await MergeQueueTests().submit(["a"], to: fixture)
        #expect(try await fixture.run().redBranch != nil)
        let fix = try fixture.repository.diff { try $0.write("broken.txt", "fixed\n") }
        let urgent = try await fixture.pipeline.submit(
            Array(fix.utf8), .init(project: "calc", message: "fix main", priority: .urgent))
        let summary = try await fixture.run()
        // The check of the red branch (1), the fix (1), the check of the fixed branch (1), then a (1).
        #expect(
            summary.landed == [urgent.ledgerID.description, try #require(entries["a"]).ledgerID.description],
            "\(summary)")
        #expect(summary.redBranch == nil && summary.gateRuns == 4)
    }

    @Test("an urgent patch held back on a red head is not gated again there by the next run")
    func urgentHeldBackStaysBack() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), files: ["broken.txt": "RED\n"])
        let diff = try fixture.repository.diff { try $0.write("other.txt", "not a fix\n") }
        let urgent = try await fixture.pipeline.submit(
            Array(diff.utf8), .init(project: "calc", message: "not a fix", priority: .urgent))
        let first = try await fixture.run()
        #expect(first.redBranch != nil && first.gateRuns == 3, "\(first)")
        // The next run checks the head (1 gate run) and, the branch still red there, leaves the urgent patch.
        let second = try await fixture.run()
        #expect(second.redBranch != nil && second.gateRuns == 1, "\(second)")
        #expect(try await fixture.engine.patches.get(urgent.ledgerID).state == .queued)
    }

    @Test("a patch held back on a red branch more often than max_apply_attempts is still not blamed")
    func heldBackOftenStaysUnblamed() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), files: ["broken.txt": "RED\n"])
        let id = try #require(try await MergeQueueTests().submit(["a"], to: fixture)["a"]).ledgerID
        for _ in 1...4 {
            #expect(try await fixture.run().redBranch != nil)
            // A passing check of the branch on record (as if it had passed in between): the next run
            // tries the patch again instead of checking the branch first.
            let check = try await fixture.engine.gates.create(
                name: "check", type: .custom,
                metadata: ["check": .string("base"), "base_commit": .string(try fixture.head())], starting: "true")
            _ = try await fixture.engine.gates.complete(check.gateID, exitCode: 0, results: nil)
        }
        let held = try await fixture.engine.patches.get(id)
        #expect(held.state == .queued && held.apply.attempts == 4 && held.apply.lastErrorCode == "target_red")
        #expect(try await fixture.pipeline.blamedAttempts(held) == 0)
    }

    @Test("a check of the branch still running, or ended in error (a run killed in it), does not clear red")
    func unfinishedCheckKeepsRed() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), files: ["broken.txt": "RED\n"])
        _ = try await MergeQueueTests().submit(["a"], to: fixture)
        #expect(try await fixture.run().redBranch != nil)
        let check = try await fixture.engine.gates.create(
            name: "check", type: .custom,
            metadata: ["check": .string("base"), "base_commit": .string(try fixture.head())], starting: "true")
        #expect(try await fixture.engine.status().redBranch != nil)
        _ = try await fixture.engine.gates.fail(check.gateID, error: "killed")
        #expect(try await fixture.engine.status().redBranch != nil)
        // The next run checks the branch (1 gate run) and stops: the patch is not tried on it.
        let next = try await fixture.run()
        #expect(next.redBranch != nil && next.gateRuns == 1, "\(next)")
    }

    @Test("a check of the branch that ends in error (its time limit) neither reddens the branch nor clears blame")
    func erroredCheckIsNotRed() async throws {
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: "if grep -qs RED *.txt; then sleep 30; fi; ! grep -qs CULPRIT *.txt")
                .replacingOccurrences(of: "timeout_seconds: 60", with: "timeout_seconds: 2"),
            files: ["broken.txt": "RED\n"])
        let diff = try fixture.repository.diff { try $0.write("broken.txt", "CULPRIT\n") }
        let entry = try await fixture.submit(diff)
        let summary = try await fixture.run()
        #expect(summary.quarantined.map(\.ledgerID) == [entry.ledgerID.description] && summary.redBranch == nil)
        let reason = try await fixture.engine.patches.get(entry.ledgerID).quarantine.quarantineReason ?? ""
        #expect(reason.contains("ended error"), "\(reason)")
        #expect(try await fixture.engine.status().redBranch == nil)
    }

    @Test("a red branch under a batch sends the whole batch back unblamed")
    func redBranchUnderBatch() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(batchSize: 4), files: ["broken.txt": "RED\n"])
        let entries = try await MergeQueueTests().submit(["a", "b", "c"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.quarantined.isEmpty && summary.landed.isEmpty && summary.redBranch != nil, "\(summary)")
        // The batch, its rerun, and the branch alone.
        #expect(summary.gateRuns == 3)
        for entry in entries.values {
            let now = try await fixture.engine.patches.get(entry.ledgerID)
            #expect(now.state == .queued && now.apply.lastErrorCode == "target_red")
        }
    }

    @Test("a flaky failure of a batch does not bisect it: the rerun passes and the batch lands whole")
    func flakyBatchLands() async throws {
        let counter = TemporaryDirectory(prefix: "sluice-flaky")
        let fixture = try PipelineTests.Fixture(
            config: Self.config(
                gate: Self.flakyGate(counter.file("ran")), results: true, batchSize: 4, extra: "sandbox: none"))
        _ = try await MergeQueueTests().submit(["a", "b", "c"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 3 && summary.gateRuns == 2 && summary.quarantined.isEmpty, "\(summary)")
        #expect(try await fixture.engine.flakyTests().map(\.test) == ["cache.evicts"])
        // The batch's commits name the rerun that passed, not the failed run.
        let rerun = try #require(
            try await fixture.engine.gates.list().first { $0.metadata["check"] == .string("rerun 1") })
        #expect(
            try fixture.repository.git("log", "-1", "--format=%B", "main").contains("Sluice-Gate-Run: \(rerun.gateID)"))
    }
}
