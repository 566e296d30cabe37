import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

/// `merge_queue.max_parallel`: batches stacked one on another, their first gate runs at once, each in
/// its own workspace; real git repositories and real gate processes.
@Suite("Merge queue: speculative gates")
struct SpeculativeGateTests {
    /// A gate that fails while a `.txt` file says CULPRIT, and that first waits (up to 10 s) until two
    /// gate runs have started: run one after the other, the first would give up waiting and fail.
    static func config(_ meeting: String) -> String {
        let gate =
            "touch \(meeting)/$$; n=0; while [ $(ls \(meeting) | wc -l) -lt 2 ] && [ $n -lt 100 ]; do sleep 0.1; "
            + "n=$((n+1)); done; [ $(ls \(meeting) | wc -l) -ge 2 ] && ! grep -qs CULPRIT *.txt"
        return MergeQueueTests.config(
            batchSize: 2, gate: gate, extra: "sandbox: none"
        ).replacingOccurrences(
            of: "merge_queue: {batch_size: 2}", with: "merge_queue: {batch_size: 2, max_parallel: 2}")
    }

    @Test(
        "two batches gated at once land whole after two gate runs, in queue order",
        arguments: [StoreKind.sqliteFile, .postgres])
    func bothPass(kind: StoreKind) async throws {
        let meeting = TemporaryDirectory(prefix: "sluice-speculative")
        let fixture = try PipelineTests.Fixture(config: Self.config(meeting.path), storage: try await kind.make())
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed == ["a", "b", "c", "d"].map { entries[$0]!.ledgerID.description }, "\(summary)")
        #expect(summary.gateRuns == 2 && summary.quarantined.isEmpty, "\(summary)")
        #expect(try MergeQueueTests().subjects(fixture, 4) == ["add a", "add b", "add c", "add d"])
        // The speculative workspace is gone with the run, from the disk and from git's list.
        #expect(!FileManager.default.fileExists(atPath: fixture.pipeline.slotsDirectory))
        #expect(!(try fixture.repository.git("worktree", "list")).contains("slot-1"))
        // The upper batch was tested on top of the lower one: its top's run names only its own patches,
        // and its commits name that run.
        let runs = try await fixture.engine.gates.list()
        #expect(runs.count == 2 && runs.allSatisfy { $0.state == .passed && $0.metadata["speculative"] == .bool(true) })
        let top = try fixture.repository.git("log", "-1", "--format=%B", "main")
        let upper = try #require(runs.first { $0.metadata["ledger_id"] == .string(entries["d"]!.ledgerID.description) })
        #expect(top.contains("Sluice-Gate-Run: \(upper.gateID)") && top.contains("Sluice-Batch: top of 2"), "\(top)")
    }

    @Test("a culprit in the lower batch stops the upper batch's run; it is stacked again on the new head and lands")
    func lowerFails() async throws {
        let meeting = TemporaryDirectory(prefix: "sluice-speculative")
        let fixture = try PipelineTests.Fixture(config: Self.config(meeting.path))
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d"], culprits: ["b"], to: fixture)
        let summary = try await fixture.run()
        // 2 at once; a alone (passes), then a and b again alone (b at the top is blamed only on a run of
        // its own), so a lands and b is the culprit; then c and d as a batch on the new head.
        #expect(summary.quarantined.map(\.ledgerID) == [entries["b"]!.ledgerID.description], "\(summary)")
        #expect(summary.landed == ["a", "c", "d"].map { entries[$0]!.ledgerID.description }, "\(summary)")
        #expect(summary.gateRuns == 5, "\(summary)")
        #expect(try MergeQueueTests().subjects(fixture, 3) == ["add a", "add c", "add d"])
        // c and d went back through no fault of their own: not an attempt they are blamed for.
        let c = try await fixture.engine.patches.get(entries["c"]!.ledgerID)
        #expect(try await fixture.pipeline.blamedAttempts(c) == 1 && c.state == .committed)
        let reason = try #require(
            try await fixture.engine.patches.get(entries["b"]!.ledgerID).quarantine.quarantineReason)
        #expect(reason.contains("gate check failed"), "\(reason)")
    }

    @Test("a culprit in the upper batch: the lower lands on its speculative run, the upper is bisected on top of it")
    func upperFails() async throws {
        let meeting = TemporaryDirectory(prefix: "sluice-speculative")
        let fixture = try PipelineTests.Fixture(config: Self.config(meeting.path))
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d"], culprits: ["d"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.quarantined.map(\.ledgerID) == [entries["d"]!.ledgerID.description], "\(summary)")
        #expect(summary.landed == ["a", "b", "c"].map { entries[$0]!.ledgerID.description }, "\(summary)")
        // 2 at once (a and b land on theirs), then c alone on top of them, then c and d alone.
        #expect(summary.gateRuns == 4, "\(summary)")
        #expect(try MergeQueueTests().subjects(fixture, 3) == ["add a", "add b", "add c"])
    }

    @Test("a speculative run still going when the batch below fails is stopped at once, and says so")
    func stoppedAtOnce() async throws {
        // The lower batch (a and b) fails at once; the upper one's gate would sleep 60 s while a is
        // below it (a fails only without c, so the upper run cannot end by itself).
        let gate =
            "if [ -e a.txt ] && [ ! -e c.txt ]; then exit 1; fi; if [ -e a.txt ] && [ -e d.txt ]; then sleep 60; fi"
        let config = MergeQueueTests.config(batchSize: 2, gate: gate).replacingOccurrences(
            of: "merge_queue: {batch_size: 2}", with: "merge_queue: {batch_size: 2, max_parallel: 2}")
        let fixture = try PipelineTests.Fixture(config: config)
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d"], to: fixture)
        let started = ContinuousClock.now
        let summary = try await fixture.run()
        #expect(ContinuousClock.now - started < .seconds(50), "the upper batch's run was not stopped")
        #expect(summary.quarantined.map(\.ledgerID) == [entries["a"]!.ledgerID.description], "\(summary)")
        #expect(summary.landed.count == 3, "\(summary)")
        let runs = try await fixture.engine.gates.list(GateFilter(ledgerID: entries["d"]!.ledgerID.description))
        let stopped = try #require(
            runs.first { $0.state == .error }, "\(runs.map { ($0.state, $0.decision?.reason ?? "-") })")
        #expect(stopped.decision?.reason.contains("stopped: its result could no longer matter") == true)
    }

    @Test("a failure only a speculative run sees (its workspace, a gate beside it) blames no patch")
    func speculativeFailureBlamesNoOne() async throws {
        // Fails in any workspace but the run's own: only the upper batch's speculative run sees it.
        let config = MergeQueueTests.config(batchSize: 2, gate: "case \"$PWD\" in *speculative*) exit 1;; esac")
            .replacingOccurrences(
                of: "merge_queue: {batch_size: 2}", with: "merge_queue: {batch_size: 2, max_parallel: 2}")
        let fixture = try PipelineTests.Fixture(config: config)
        _ = try await MergeQueueTests().submit(["a", "b", "c", "d"], to: fixture)
        let summary = try await fixture.run()
        // 2 at once; c alone passes, and c and d alone pass too: all land.
        #expect(summary.landed.count == 4 && summary.quarantined.isEmpty && summary.gateRuns == 4, "\(summary)")
        // The speculative run's log is kept beside the one of the batch gated again.
        let runs = try await fixture.engine.gates.list(GateFilter(check: "speculative"))
        #expect(runs.count == 2 && runs.filter { $0.state == .failed }.count == 1)
    }

    @Test("the lower batch lands as soon as its run passed, before the upper batch's run is waited for")
    func landsWithoutWaiting() async throws {
        let meeting = TemporaryDirectory(prefix: "sluice-speculative")
        let fixture = try PipelineTests.Fixture(config: Self.config(meeting.path))
        let entries = try await MergeQueueTests().submit(["a", "b", "c", "d"], to: fixture)
        let events = Mutex<[PipelineEvent]>([])
        let summary = try await fixture.pipeline.run { event in events.withLock { $0.append(event) } }
        #expect(summary.landed.count == 4, "\(summary)")
        let seen = events.withLock { $0 }
        let landedB = seen.firstIndex { $0.step == "land" && $0.ledgerID == entries["b"]!.ledgerID.description }
        let gatedD = seen.firstIndex { $0.step == "gate" && $0.ledgerID == entries["d"]!.ledgerID.description }
        #expect(landedB != nil && gatedD != nil && landedB! < gatedD!, "\(seen.map(\.message))")
    }

    @Test(
        "sealed, a speculative gate writes only its own workspace and its own kept cache, never the run's",
        .enabled(if: TestBubblewrap.isInstalled, Comment(rawValue: TestBubblewrap.skipReason)))
    func sealedSlotsKeepApart() async throws {
        guard await PipelineSandboxTests.haveBubblewrap() else { return }
        // Beside the run's cache, the upper batch's is `<cache>-1`: its gate tries to write the run's.
        let gate = "c=$XDG_CACHE_HOME; case $c in *-1) touch \"${c%-1}/evil\" 2>/dev/null;; esac; touch \"$c/mine\""
        let config = MergeQueueTests.config(batchSize: 2, gate: gate, extra: "sandbox: bubblewrap")
            .replacingOccurrences(
                of: "merge_queue: {batch_size: 2}", with: "merge_queue: {batch_size: 2, max_parallel: 2}")
        let fixture = try PipelineTests.Fixture(config: config)
        _ = try await MergeQueueTests().submit(["a", "b", "c", "d"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 4 && summary.gateRuns == 2, "\(summary)")
        let files = FileManager.default
        #expect(!files.fileExists(atPath: fixture.pipeline.gateCachePath + "/evil"))
        #expect(files.fileExists(atPath: fixture.pipeline.slotCachePath(1) + "/mine"))
        #expect(files.fileExists(atPath: fixture.pipeline.gateCachePath + "/mine"))
    }

    @Test("a slot whose .git a gate rewrote is made anew before git runs in it")
    func rewrittenSlotLink() async throws {
        let fixture = try PipelineTests.Fixture(config: MergeQueueTests.config(batchSize: 2))
        let head = try fixture.head()
        let slot = try await fixture.pipeline.makeSlot(1, at: head)
        let link = slot + "/.git"
        let written = try String(contentsOfFile: link, encoding: .utf8)
        // As a gate could leave it, had its run been killed: pointing at a repository it made.
        try "gitdir: \(slot)/evil/.git\n".write(toFile: link, atomically: true, encoding: .utf8)
        let again = try await fixture.pipeline.makeSlot(1, at: head)
        let restored = try String(contentsOfFile: link, encoding: .utf8)
        #expect(again == slot && restored == written)
        await fixture.pipeline.removeSlots()
        #expect(!FileManager.default.fileExists(atPath: fixture.pipeline.slotsDirectory))
    }

    @Test("a speculative run that a quarantine excused is judged again once the test was released below it")
    func releasedBelow() async throws {
        // t.q fails on the first run (a flake: quarantined, released after one landed pass) and while a
        // file says FAILQ.
        let counter = TemporaryDirectory(prefix: "sluice-speculative")
        let gate =
            "echo x >> \(counter.file("ran")); n=$(wc -l < \(counter.file("ran"))); "
            + "if [ $n = 1 ] || grep -qs FAILQ *.txt; then f='<failure/>'; else f=; fi; "
            + "printf '<testsuite><testcase classname=\"t\" name=\"q\">%s</testcase>"
            + "<testcase classname=\"t\" name=\"ok\"/></testsuite>' \"$f\" > results.xml"
        let config = FlakyVerdictTests.config(
            gate: gate, results: true, batchSize: 1,
            extra: "sandbox: none\nflaky: {reruns: 1, quarantine_after: 1, release_after: 1}"
        ).replacingOccurrences(of: "flaky: {reruns: 1}\n", with: "")
            .replacingOccurrences(
                of: "merge_queue: {batch_size: 1}", with: "merge_queue: {batch_size: 1, max_parallel: 2}")
        let fixture = try PipelineTests.Fixture(config: config)
        _ = try await MergeQueueTests().submit(["a"], to: fixture)
        #expect(try await fixture.run().landed.count == 1)
        #expect(try await fixture.engine.testQuarantines().map(\.test) == ["t.q"])
        let p1 = try fixture.repository.diff { try $0.write("p1.txt", "one\n") }
        _ = try await fixture.submit(p1)
        let p2 = try fixture.repository.diff { try $0.write("p2.txt", "FAILQ\n") }
        let bad = try await fixture.submit(p2)
        let summary = try await fixture.run()
        // p1 lands and releases t.q; p2's speculative pass rested on it, so p2 is gated again and blamed.
        #expect(
            summary.landed.count == 1 && summary.quarantined.map(\.ledgerID) == [bad.ledgerID.description], "\(summary)"
        )
        #expect(try await fixture.engine.testQuarantines().isEmpty)
    }
}
