import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

@testable import SluiceEngine

/// `flaky.quarantine_after` and `sluice tests quarantine`: a quarantined test still runs and is
/// reported, but its failures do not decide its gate. Real git repositories and real gate processes.
@Suite("Test quarantine")
struct TestQuarantineTests {
    /// A gate whose test `cache.evicts` fails on the runs numbered in `failing` (counted in a file
    /// outside every workspace, so it runs unsealed) and is skipped when a file says SKIP; `calc.adds`
    /// fails when a file says CULPRIT.
    static func gate(_ counter: String, failing: [Int]) -> String {
        let runs = failing.map(String.init).joined(separator: " ")
        return "echo x >> \(counter); n=$(wc -l < \(counter)); case \" \(runs) \" in *\" $n \"*) "
            + "f='<failure message=\"evicted\"/>';; *) f=;; esac; "
            + "if grep -qs SKIP *.txt; then f='<skipped/>'; fi; "
            + "if grep -qs CULPRIT *.txt; then g='<failure message=\"culprit\"/>'; else g=; fi; "
            + "printf '<testsuite name=\"t\"><testcase classname=\"cache\" name=\"evicts\">%s</testcase>"
            + "<testcase classname=\"calc\" name=\"adds\">%s</testcase></testsuite>' \"$f\" \"$g\" > results.xml"
    }

    static func fixture(
        failing: [Int], flaky: String, criteria: String = "", storage: (any Storage)? = nil
    ) throws -> (PipelineTests.Fixture, TemporaryDirectory) {
        let counter = TemporaryDirectory(prefix: "sluice-quarantine")
        let config = FlakyVerdictTests.config(
            gate: gate(counter.file("ran"), failing: failing), results: true, criteria: criteria,
            extra: "sandbox: none"
        ).replacingOccurrences(of: "flaky: {reruns: 1}", with: "flaky: {\(flaky)}")
        let fixture =
            if let storage {
                try PipelineTests.Fixture(config: config, storage: storage)
            } else {
                try PipelineTests.Fixture(config: config)
            }
        return (fixture, counter)
    }

    @Test(
        "a test that flakes quarantine_after times stops deciding its gate, and is released after release_after passes",
        arguments: [StoreKind.sqliteFile, .postgres])
    func quarantinedThenReleased(kind: StoreKind) async throws {
        let (fixture, counter) = try Self.fixture(
            failing: [1, 3, 5], flaky: "reruns: 1, quarantine_after: 2, release_after: 2",
            storage: try await kind.make())
        _ = counter
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d", "e"], to: fixture)
        let summary = try await fixture.run()
        // a and b: failed, then passed on a rerun (2 runs each); the second flake quarantines the test.
        // c: evicts fails again, but no longer decides: 1 run. d and e pass: the second releases it.
        #expect(summary.landed.count == 5 && summary.quarantined.isEmpty, "\(summary)")
        #expect(summary.gateRuns == 7, "\(summary)")
        let c = try #require(entries["c"]).ledgerID.description
        let runsOfC = try await fixture.engine.gates.list(GateFilter(ledgerID: c))
        #expect(runsOfC.count == 1 && runsOfC.first?.state == .passed)
        let reason = runsOfC.first?.decision?.reason ?? ""
        #expect(reason.contains("quarantined, not deciding: 1 failed (cache.evicts)"), "\(reason)")
        let all = try await fixture.engine.testQuarantines(includingReleased: true)
        let inForce = try await fixture.engine.testQuarantines()
        #expect(all.count == 1 && inForce.isEmpty)
        let record = try #require(all.first)
        #expect(record.test == "cache.evicts" && record.gate == "check" && record.automatic && !record.quarantined)
        #expect(record.quarantinedBy == "sluice" && record.reason.contains("flaked 2 times"), "\(record.reason)")
        #expect(record.releasedBy == "sluice" && record.passesInARow == 2, "\(record)")
        #expect(record.releaseReason?.contains("passed 2 runs of gate check in a row") == true)
        // Both changes are on the event log, under the test's own id.
        let events = try await fixture.engine.events(entityID: "tests/check/cache.evicts")
        #expect(events.map(\.toState) == ["quarantined", "deciding"] && events.allSatisfy { $0.actor == "sluice" })
        #expect(try await fixture.engine.flakyTests().first?.flakes == 2)
    }

    @Test("a gate's required test is never quarantined by Sluice, however often it flakes")
    func requiredTestsStay() async throws {
        let (fixture, counter) = try Self.fixture(
            failing: [1, 3], flaky: "reruns: 1, quarantine_after: 1", criteria: ", required_tests: [cache.evicts]")
        _ = counter
        _ = try await MergeQueueTests().submit(["a", "b"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 2 && summary.gateRuns == 4, "\(summary)")
        #expect(try await fixture.engine.testQuarantines(includingReleased: true).isEmpty)
        let flaky = try #require(try await fixture.engine.flakyTests().first)
        #expect(flaky.flakes == 2 && !flaky.quarantined)
    }

    @Test("a test a person quarantined does not decide, is not released by passes, and decides again once released")
    func personQuarantine() async throws {
        // Runs 1 and 3 fail the test; no reruns, so a failure that decides blames the patch.
        let (fixture, counter) = try Self.fixture(failing: [1, 3], flaky: "reruns: 0, release_after: 1")
        _ = counter
        try await fixture.engine.quarantineTest("cache.evicts", gate: "check", by: "ana", reason: "evicts at random")
        _ = try await MergeQueueTests().submit(["a", "b"], to: fixture)
        let first = try await fixture.run()
        #expect(first.landed.count == 2 && first.gateRuns == 2, "\(first)")
        let held = try #require(try await fixture.engine.testQuarantines().first)
        #expect(held.quarantined && !held.automatic && held.quarantinedBy == "ana" && held.passesInARow == 1)
        // A second hand quarantine is refused; Sluice's name is not a person's.
        await #expect(throws: SluiceError.self) {
            try await fixture.engine.quarantineTest("cache.evicts", gate: "check", by: "bo", reason: nil)
        }
        await #expect(throws: SluiceError.self) {
            try await fixture.engine.unquarantineTest("cache.evicts", gate: "check", by: "Sluice", reason: nil)
        }
        try await fixture.engine.unquarantineTest("cache.evicts", gate: "check", by: "bo", reason: "fixed")
        // Run 3 fails it again: now it decides, and the patch is quarantined.
        let entries = try await MergeQueueTests().submit(["c"], to: fixture)
        let second = try await fixture.run()
        #expect(second.quarantined.map(\.ledgerID) == [try #require(entries["c"]).ledgerID.description], "\(second)")
        await #expect(throws: SluiceError.self) {
            try await fixture.engine.unquarantineTest("cache.evicts", gate: "check", by: "bo", reason: nil)
        }
        let events = try await fixture.engine.events(entityID: "tests/check/cache.evicts")
        #expect(events.map(\.actor) == ["ana", "bo"] && events.last?.reason == "fixed")
    }

    @Test("a patch that does not land counts nothing toward a release, and a release never turns its blame to red")
    func onlyLandedRunsCount() async throws {
        // a: flakes (runs 1, 2), which quarantines the test. b breaks calc.adds and passes evicts on its
        // run, rerun and the branch's check (runs 3 to 5): blamed, and its passes count for nothing.
        let (fixture, counter) = try Self.fixture(
            failing: [1], flaky: "reruns: 1, quarantine_after: 1, release_after: 2")
        _ = counter
        let entries = try await MergeQueueTests().submit(["a", "b", "c"], culprits: ["b"], to: fixture)
        let summary = try await fixture.run()
        let b = try #require(entries["b"]).ledgerID.description
        #expect(summary.quarantined.map(\.ledgerID) == [b] && summary.redBranch == nil, "\(summary)")
        #expect(summary.landed.count == 2 && summary.gateRuns == 6, "\(summary)")
        // Only c's run counted: the rerun that found the flake ended before the quarantine.
        let held = try #require(try await fixture.engine.testQuarantines().first)
        #expect(held.automatic && held.quarantined && held.passesInARow == 1, "\(held)")
    }

    @Test("a patch that skips a quarantined test that ran on the branch fails tests_missing")
    func skippedQuarantinedTestIsMissing() async throws {
        let (fixture, counter) = try Self.fixture(failing: [1, 2], flaky: "reruns: 0")
        _ = counter
        try await fixture.engine.quarantineTest("cache.evicts", gate: "check", by: "ana", reason: nil)
        let landed = try await MergeQueueTests().submit(["a"], to: fixture)
        #expect(try await fixture.run().landed == [try #require(landed["a"]).ledgerID.description])
        // Run 2 would fail it (excused); the patch skips it instead.
        let diff = try fixture.repository.diff { try $0.write("skip.txt", "SKIP\n") }
        let entry = try await fixture.submit(diff)
        let summary = try await fixture.run()
        #expect(summary.quarantined.map(\.ledgerID) == [entry.ledgerID.description], "\(summary)")
        let reason = try #require(try await fixture.engine.patches.get(entry.ledgerID).quarantine.quarantineReason)
        #expect(reason.contains("tests_missing") && reason.contains("cache.evicts"), "\(reason)")
    }

    @Test("a TAP test without a description, named by its position, is never quarantined")
    func positionalNames() {
        let tap = GateConfig(name: "t", type: .custom, command: "x", results: "r.tap")
        let junit = GateConfig(name: "j", type: .custom, command: "x", results: "r.xml")
        #expect(
            Engine.isPositional("test 2", of: tap) && Engine.isPositional("test 12 (planned, never reported)", of: tap))
        #expect(!Engine.isPositional("test 2", of: junit) && !Engine.isPositional("test two", of: tap))
        #expect(!Engine.isPositional("test 2 adds", of: tap) && !Engine.isPositional("test ", of: tap))
    }

    @Test("a quarantined test excuses only its own failures: another failing test still fails the gate")
    func excusesOnlyItself() {
        let results = GateResults(
            testCases: [
                TestCaseResult(name: "evicts", classname: "cache", status: .failed),
                TestCaseResult(name: "adds", classname: "calc", status: .failed),
                TestCaseResult(name: "subtracts", classname: "calc", status: .passed),
            ])
        let criteria = GateCriteria(requiredTests: ["cache.evicts"])
        let excused = criteria.evaluate(results, excused: ["cache.evicts"])
        #expect(!excused.passed && excused.reason.contains("max_failures: 1 failed, 0 allowed (calc.adds)"))
        #expect(excused.reason.contains("quarantined, not deciding: 1 failed (cache.evicts)"))
        #expect(excused.reason.contains("required_tests") == false, "\(excused.reason)")
        let both = criteria.evaluate(results, excused: ["cache.evicts", "calc.adds"])
        #expect(both.passed && both.reason.contains("2 failed (cache.evicts, calc.adds)"), "\(both.reason)")
        // Absent, a quarantined test that must run still fails the gate; a skipped required one too.
        let absent = GateResults(testCases: [TestCaseResult(name: "adds", classname: "calc", status: .passed)])
        #expect(!GateCriteria().evaluate(absent, mustRun: ["cache.evicts"], excused: ["cache.evicts"]).passed)
        let skipped = GateResults(testCases: [TestCaseResult(name: "evicts", classname: "cache", status: .skipped)])
        #expect(!criteria.evaluate(skipped, excused: ["cache.evicts"]).passed)
        // A report's own count loses only the excused cases.
        var counted = results
        counted.failedTests = 5
        #expect(counted.failureCount(excusing: ["cache.evicts"]) == 4)
    }
}
