import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// `flaky.reruns`: a failed gate is rerun before a patch is blamed, and checked on the target branch
/// without the patch; real git repositories and real gate processes.
@Suite("Flake verdicts")
struct FlakyVerdictTests {
    /// A gate that fails while any `.txt` file of the tree says CULPRIT (or RED), and whose test
    /// `cache.evicts` fails the first time it runs in a workspace, like a test that depends on chance.
    static let flakyGate =
        "if [ -e .ran ]; then f=; else touch .ran; f='<failure message=\"evicted\"/>'; fi; "
        + "if grep -qs -e CULPRIT -e RED *.txt; then g='<failure message=\"culprit\"/>'; else g=; fi; "
        + "printf '<testsuite name=\"t\"><testcase classname=\"cache\" name=\"evicts\">%s</testcase>"
        + "<testcase classname=\"calc\" name=\"adds\">%s</testcase></testsuite>' \"$f\" \"$g\" > results.xml"

    static func config(gate: String = "! grep -qs -e CULPRIT -e RED *.txt", results: Bool = false, batchSize: Int = 1)
        -> String
    {
        let reported = results ? ", results: results.xml" : ""
        return """
            target_branch: main
            gates:
              - {name: check, type: custom, command: '\(gate.replacingOccurrences(of: "'", with: "''"))'\(reported), criteria: {timeout_seconds: 60}}
            policy: {tests: ["tests/**"], max_apply_attempts: 3}
            logs: {grace_seconds: 1}
            merge_queue: {batch_size: \(batchSize)}
            flaky: {reruns: 1}
            """
    }

    @Test("a test that fails and then passes on a rerun is flaky: the patch lands, and the test is listed")
    func flakyTestLands() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(gate: Self.flakyGate, results: true))
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
        let fixture = try PipelineTests.Fixture(config: Self.config(gate: Self.flakyGate, results: true, batchSize: 4))
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
