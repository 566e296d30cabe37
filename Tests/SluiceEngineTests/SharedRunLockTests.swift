import Foundation
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

/// `sluice run` on a ledger that hosts share: the branch is locked in the database.
@Suite("Shared run lock", .requiresPostgres)
struct SharedRunLockTests {
    @Test("a run is refused while another host's run of the same project holds the branch, then lands once it ends")
    func anotherHostHoldsTheBranch() async throws {
        let url = try PostgresServer.shared().makeDatabase()
        let here = try await PostgresStorage(url: url)
        let fixture = try PipelineTests.Fixture(storage: here)
        let entry = try await fixture.submit(try PipelineTests().goodDiff(fixture))
        // The other host: its own clone of the project, its own connections to the same database.
        let elsewhere = TemporaryDirectory(prefix: "sluice-other-host")
        let clone = elsewhere.file("clone")
        _ = try fixture.repository.git("clone", "--quiet", fixture.repository.path, clone)
        let there = try await PostgresStorage(url: url)
        let other = Pipeline(
            engine: Engine(EngineContext(storage: there, actor: "other-host")), repository: clone,
            scratchDirectory: elsewhere.file("scratch"))
        let held = try #require(try await other.sharedRunLock())

        await #expect {
            try await fixture.run()
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .blocked && error?.message.contains("another sluice run") == true
        }
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .queued)
        // Asking again is refused the same way, from either host, while it is held.
        await #expect(throws: SluiceError.self) { try await fixture.pipeline.sharedRunLock() }
        await #expect(throws: SluiceError.self) { try await other.sharedRunLock() }

        await held.release()
        let summary = try await fixture.run()
        #expect(summary.landed == [entry.ledgerID.description])
        await #expect(try there.patch(entry.ledgerID)?.state == .committed)
        await here.close()
        await there.close()
    }

    @Test("a lock whose holder's session ends is free again")
    func holderGone() async throws {
        let url = try PostgresServer.shared().makeDatabase()
        let first = try await PostgresStorage(url: url)
        let second = try await PostgresStorage(url: url)
        let held = try #require(try await first.tryLock("sluice run x main"))
        #expect(try await second.tryLock("sluice run x main") == nil)
        // Another name is another lock.
        let other = try #require(try await second.tryLock("sluice run x release"))
        await held.release()
        let again = try #require(try await second.tryLock("sluice run x main"))
        await again.release()
        await other.release()
        await first.close()
        await second.close()
    }
}

/// Recovery on a ledger that several clones share touches only what this clone's runs left.
@Suite("Recovery on a shared ledger")
struct SharedLedgerRecoveryTests {
    @Test(
        "a patch another clone's killed run verified is left for that clone; what it applied and gated is recovered here"
    )
    func anotherClonesLeftovers() async throws {
        let fixture = try PipelineTests.Fixture()
        let engine = fixture.engine
        let base = try fixture.head()
        let elsewhere = "/elsewhere/.cache/sluice/workspaces/other/run"
        // What a run in another clone left when it was killed after its gates passed.
        let verified = try await fixture.submit(try PipelineTests().goodDiff(fixture))
        _ = try await engine.patches.applied(verified.ledgerID, on: base, workspace: elsewhere, files: ["calc.py"])
        let unknown = String(repeating: "ab", count: 20)
        _ = try await engine.patches.verified(verified.ledgerID, tested: unknown, reason: "all gates passed")
        // And a gate it was running for another patch, applied there.
        let applied = try await fixture.submit(
            "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-calc\n+calculator\n")
        _ = try await engine.patches.applied(applied.ledgerID, on: base, workspace: elsewhere, files: ["README.md"])
        let gate = try await engine.gates.create(
            name: "unit", type: .unitTests, project: "calc",
            metadata: ["ledger_id": .string(applied.ledgerID.description), "workspace": .string(elsewhere)],
            starting: "sh tests/check.sh")

        let events = Mutex<[PipelineEvent]>([])
        let summary = try await fixture.pipeline.run { event in events.withLock { $0.append(event) } }
        // The run that left them is dead (this run holds the branch's lock): its gate ends as interrupted
        // and its applied patch is gated again here, and lands. The verified one is only that clone's.
        #expect(summary.landed == [applied.ledgerID.description] && summary.quarantined.isEmpty)
        await #expect(try engine.patches.get(verified.ledgerID).state == .verified)
        await #expect(try engine.gates.get(gate.gateID).state == .error)
        #expect(
            events.withLock { $0 }.contains {
                $0.ledgerID == verified.ledgerID.description && $0.outcome == "elsewhere"
                    && $0.message.contains("another clone")
            })
    }
}
