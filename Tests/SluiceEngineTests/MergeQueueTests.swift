import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Testing

@testable import SluiceEngine

/// `merge_queue.batch_size`: batches stacked, gated once at the top and landed with one swap, on real
/// git repositories with real gate processes.
@Suite("Merge queue: batches")
struct MergeQueueTests {
    /// A gate that fails while any `.txt` file of the tree says CULPRIT.
    static func config(batchSize: Int = 4, gate: String = "! grep -qs CULPRIT *.txt", extra: String = "") -> String {
        """
        target_branch: main
        gates:
          - {name: check, type: custom, command: '\(gate)', criteria: {timeout_seconds: 60}}
        policy: {tests: ["tests/**"], max_apply_attempts: 3}
        logs: {grace_seconds: 1}
        merge_queue: {batch_size: \(batchSize)}
        \(extra)
        """
    }

    /// Submits one patch per name, each adding `<name>.txt`; a culprit's file says CULPRIT.
    func submit(_ names: [String], culprits: Set<String> = [], to fixture: PipelineTests.Fixture) async throws
        -> [String: PatchLedgerEntry]
    {
        var entries: [String: PatchLedgerEntry] = [:]
        for name in names {
            let text = culprits.contains(name) ? "CULPRIT\n" : "\(name)\n"
            let diff = try fixture.repository.diff { try $0.write("\(name).txt", text) }
            entries[name] = try await fixture.pipeline.submit(
                Array(diff.utf8), .init(project: "calc", message: "add \(name)"))
        }
        return entries
    }

    /// Submits the patches, and runs with uncommitted work in the checkout: the run stops after the
    /// batch is verified, before the branch moves.
    func stopVerified(_ names: [String], _ fixture: PipelineTests.Fixture) async throws -> [String: PatchLedgerEntry] {
        let entries = try await submit(names, to: fixture)
        try fixture.repository.write("README.md", "work in progress\n")
        await #expect {
            try await fixture.run()
        } throws: { ($0 as? SluiceError)?.message.contains("uncommitted changes") == true }
        return entries
    }

    func subjects(_ fixture: PipelineTests.Fixture, _ count: Int) throws -> [String] {
        try fixture.repository.git("log", "--format=%s", "-\(count)", "--reverse", "main")
            .split(separator: "\n").map(String.init)
    }

    @Test(
        "a batch that passes lands whole, in queue order, after one gate run, each commit naming that run",
        arguments: [StoreKind.sqliteFile, .postgres])
    func batchPasses(kind: StoreKind) async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), storage: try await kind.make())
        let before = try fixture.head()
        let entries = try await submit(["a", "b", "c", "d"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 4 && summary.gateRuns == 1, "\(summary)")
        #expect(try subjects(fixture, 4) == ["add a", "add b", "add c", "add d"])
        #expect(try fixture.repository.git("rev-parse", "main~4") == before)
        let gates = try await fixture.engine.gates.list()
        #expect(gates.count == 1 && gates[0].metadata["batch_size"] == .number(4))
        for (offset, name) in ["a", "b", "c", "d"].enumerated() {
            let entry = try await fixture.engine.patches.get(try #require(entries[name]).ledgerID)
            let source = try #require(try await fixture.engine.context.storage.patchSource(entry.ledgerID))
            #expect(entry.state == .committed)
            let message = try fixture.repository.git("log", "-1", "--format=%B", try #require(source.landedCommit))
            #expect(message.contains("Sluice-Ledger-Id: \(entry.ledgerID)"))
            #expect(message.contains("Sluice-Gate-Run: \(gates[0].gateID)"), "\(message)")
            #expect(message.contains(offset == 3 ? "Sluice-Batch: top of 4" : "Sluice-Batch: \(offset + 1) of 4"))
            // Each patch's commit is its own, on the one below it: the recorded base is its parent.
            #expect(
                try fixture.repository.git("rev-parse", "\(try #require(source.landedCommit))^") == source.baseCommit)
        }
    }

    @Test(
        "a batch of 4 with one culprit lands the other 3 in order and quarantines it, bisecting in a few gate runs",
        arguments: [(0, StoreKind.sqliteFile), (1, .sqliteFile), (2, .postgres), (3, .sqliteFile)])
    func oneCulprit(position: Int, kind: StoreKind) async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(), storage: try await kind.make())
        let names = ["a", "b", "c", "d"]
        let entries = try await submit(names, culprits: [names[position]], to: fixture)
        let summary = try await fixture.run()
        let culprit = try #require(entries[names[position]])
        #expect(summary.landed.count == 3 && summary.quarantined.map(\.ledgerID) == [culprit.ledgerID.description])
        // 1 for the batch, 2 to bisect 4, 1 for what was above the culprit unless it was last.
        #expect(summary.gateRuns <= (position == 3 ? 3 : 4), "\(summary.gateRuns) gate runs")
        #expect(try subjects(fixture, 3) == names.filter { $0 != names[position] }.map { "add \($0)" })
        let quarantined = try await fixture.engine.patches.get(culprit.ledgerID)
        #expect(
            quarantined.quarantine.quarantineReason?.contains(
                position == 0 ? "alone on the branch" : "on top of \(position) patches") == true)
        // Those stacked above it were applied twice, the first time not by their fault.
        for name in names.dropFirst(position + 1) {
            let above = try await fixture.engine.patches.get(try #require(entries[name]).ledgerID)
            let blamed = try await fixture.pipeline.blamedAttempts(above)
            #expect(above.apply.attempts == 2 && blamed == 1, "\(name): \(above.apply.attempts), \(blamed)")
        }
        // Its own failing run is on record with it.
        let logs = try #require(quarantined.quarantine.quarantinePath)
        #expect(FileManager.default.fileExists(atPath: logs + "/check.log"))
    }

    @Test("an urgent patch goes alone, ahead of the batch; batch_size 1 gates every patch alone")
    func urgentAlone() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        _ = try await submit(["a", "b"], to: fixture)
        let diff = try fixture.repository.diff { try $0.write("u.txt", "u\n") }
        _ = try await fixture.pipeline.submit(
            Array(diff.utf8), .init(project: "calc", message: "add u", priority: .urgent))
        let summary = try await fixture.run()
        #expect(summary.landed.count == 3 && summary.gateRuns == 2, "\(summary)")
        #expect(try subjects(fixture, 3) == ["add u", "add a", "add b"])

        let single = try PipelineTests.Fixture(config: Self.config(batchSize: 1))
        _ = try await submit(["a", "b", "c"], to: single)
        let alone = try await single.run()
        #expect(alone.landed.count == 3 && alone.gateRuns == 3)
        #expect(try single.repository.git("log", "-1", "--format=%B", "main").contains("Sluice-Batch") == false)
    }

    @Test("the branch moved by hand while a batch was gated: nothing lands on the old head, and the batch lands again")
    func branchMovedMidBatch() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let marker = fixture.scratch.file("moved")
        // The gate (unsealed) moves the branch once, as a person pushing by hand would.
        let gate =
            "if [ ! -e \(marker) ]; then touch \(marker); git -C \(fixture.repository.path) commit --allow-empty "
            + "--quiet -m by-hand; fi; true"
        try fixture.repository.commit(
            ["sluice.yml": Self.config(gate: gate, extra: "sandbox: none")], message: "a gate that moves main")
        _ = try await submit(["a", "b", "c"], to: fixture)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 3 && summary.quarantined.isEmpty, "\(summary)")
        #expect(try subjects(fixture, 4) == ["by-hand", "add a", "add b", "add c"])
        #expect(summary.gateRuns == 2)
    }

    @Test("a patch of a batch quarantined by hand while its batch is gated: the rest are gated again without it")
    func memberChangedMidBatch() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let marker = fixture.scratch.file("gating")
        let gate = "touch \(marker); sleep 2; ! grep -qs CULPRIT *.txt"
        try fixture.repository.commit(
            ["sluice.yml": Self.config(gate: gate, extra: "sandbox: none")], message: "a gate that takes a while")
        let before = try fixture.head()
        let entries = try await submit(["a", "b", "c"], to: fixture)
        let running = Task { try await fixture.run() }
        while !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(20)) }
        let top = try #require(entries["c"])
        try await fixture.pipeline.quarantine(top.ledgerID, reason: "set aside by hand")
        let summary = try await running.value
        // Nothing was verified for the batch with c; a and b went back to the queue and were gated again,
        // as a stack of their own, before they landed.
        #expect(summary.gateRuns == 2, "\(summary)")
        #expect(Set(summary.landed) == Set(["a", "b"].compactMap { entries[$0]?.ledgerID.description }))
        #expect(try subjects(fixture, 2) == ["add a", "add b"])
        #expect(try fixture.repository.git("rev-parse", "main~2") == before)
        await #expect(try fixture.engine.patches.get(top.ledgerID).state == .quarantined)
        let gates = try await fixture.engine.gates.list()
        let landedTop = try #require(gates.first { $0.metadata["batch_size"] == .number(2) })
        #expect(landedTop.state == .passed)
    }

    @Test("a verified batch whose top was set aside before the next run: the patches below it never land untested")
    func verifiedBatchWithoutTop() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let before = try fixture.head()
        let entries = try await stopVerified(["a", "b", "c"], fixture)
        let top = try #require(entries["c"])
        try await fixture.pipeline.quarantine(top.ledgerID, reason: "set aside by hand")
        try fixture.repository.git("checkout", "--", "README.md")
        let summary = try await fixture.run()
        #expect(try summary.landed.isEmpty && fixture.head() == before, "\(summary)")
        for name in ["a", "b"] {
            let entry = try await fixture.engine.patches.get(try #require(entries[name]).ledgerID)
            #expect(entry.state == .quarantined)
            #expect(entry.quarantine.quarantineReason?.contains("whose top did not land with it") == true)
        }
    }

    @Test("a verified batch whose middle patch was set aside: nothing lands, each set aside with its own reason")
    func verifiedBatchWithoutMiddle() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let before = try fixture.head()
        let entries = try await stopVerified(["a", "b", "c"], fixture)
        try await fixture.pipeline.quarantine(try #require(entries["b"]).ledgerID, reason: "set aside by hand")
        try fixture.repository.git("checkout", "--", "README.md")
        let summary = try await fixture.run()
        #expect(try summary.landed.isEmpty && fixture.head() == before, "\(summary)")
        let bottom = try await fixture.engine.patches.get(try #require(entries["a"]).ledgerID)
        #expect(bottom.quarantine.quarantineReason?.contains("whose top did not land with it") == true)
        let top = try await fixture.engine.patches.get(try #require(entries["c"]).ledgerID)
        #expect(
            top.quarantine.quarantineReason?.contains("top of a batch of 3 whose lower patches did not all land")
                == true,
            "\(top.quarantine.quarantineReason ?? "")")
    }

    @Test("a checkout a batch's landing left behind (the run stopped after the swap) is moved to the batch's top")
    func checkoutRepairedAfterBatch() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let before = try fixture.head()
        _ = try await submit(["a", "b", "c"], to: fixture)
        let landed = try await fixture.run()
        #expect(landed.landed.count == 3)
        // As if the run had stopped right after the swap: the checkout still at the batch's base.
        try fixture.repository.git("read-tree", "--reset", "-u", before)
        #expect(!(try fixture.repository.git("status", "--porcelain")).isEmpty)
        let log = EventLog()
        _ = try await fixture.pipeline.run { log.append($0) }
        let events = log.all
        #expect(events.contains { $0.step == "recover" && $0.outcome == "repaired" }, "\(events.map(\.message))")
        #expect(try fixture.repository.git("status", "--porcelain").isEmpty)
        #expect(try fixture.repository.read("c.txt") == "c\n")
    }

    @Test("a run stopped after a batch was verified, before the branch moved: the next lands it with one swap")
    func verifiedBatchRecovered() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config())
        let before = try fixture.head()
        let entries = try await stopVerified(["a", "b", "c"], fixture)
        #expect(try fixture.head() == before)
        for entry in entries.values {
            await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .verified)
        }
        try fixture.repository.git("checkout", "--", "README.md")
        let summary = try await fixture.run()
        #expect(summary.landed.count == 3 && summary.gateRuns == 0, "\(summary)")
        #expect(try subjects(fixture, 3) == ["add a", "add b", "add c"])
        #expect(try fixture.repository.git("rev-parse", "main~3") == before)
        // One swap: the branch's reflog moved once, from the old head to the top.
        let reflog = try fixture.repository.git("reflog", "--format=%gs", "-1", "main")
        #expect(reflog.contains("sluice: land"), "\(reflog)")
        #expect(try fixture.repository.git("rev-parse", "main@{1}") == before)
    }
}
