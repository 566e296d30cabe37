import Foundation
import SluiceCore
import SluiceEngine
import SluicePostgres
import SluiceStore
import SluiceTesting
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
