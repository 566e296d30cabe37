import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

@Suite("PatchService")
struct PatchServiceTests {
    @Test("a full lifecycle lands in committed with its whole history")
    func lifecycle() async throws {
        let test = try TestEngine()
        let request = ExecutionRequestID.make()
        let id = try await test.patches.create(project: "p", phase: "1", workstream: "w", request: request).ledgerID
        for step: (LedgerID) async throws -> PatchLedgerEntry in [
            { try await test.patches.validate($0, formatOK: true, scopeOK: true, constraintsOK: true) },
            { try await test.patches.queue($0) },
            { try await test.patches.applied($0, workspace: "/ws", files: ["a.py"]) },
            { try await test.patches.verify($0, passed: true) }, { try await test.patches.commit($0) },
        ] {
            test.clock.advance(milliseconds: 10)
            _ = try await step(id)
        }
        let entry = try await test.patches.get(id)
        #expect(entry.state == .committed)
        #expect(entry.stateHistory.map(\.state) == [.created, .validated, .queued, .applied, .verified, .committed])
        #expect(entry.executionRequestID == request)
        #expect(entry.validation.testsRan && entry.validation.testsPassed)
        #expect(entry.createdAt < entry.updatedAt)
    }

    @Test("validation failures go to apply_failed with one error per failed check")
    func validationErrors() async throws {
        let test = try TestEngine()
        let id = try await test.patches.create(project: "p").ledgerID
        let entry = try await test.patches.validate(id, formatOK: false, scopeOK: false, constraintsOK: true)
        #expect(entry.state == .applyFailed)
        #expect(entry.validation.validationErrors.count == 2)
        #expect(entry.apply.lastErrorCode == "validation_failed")
    }

    @Test("apply attempts count, and a failed patch can be re-queued")
    func retries() async throws {
        let test = try TestEngine()
        let id = try await test.patches.create(project: "p").ledgerID
        try await test.patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
        try await test.patches.queue(id)
        try await test.patches.applyFailed(id, code: "conflict", message: "src/a.py hunk 2")
        try await test.patches.queue(id)
        let entry = try await test.patches.applied(id, workspace: "/ws", files: ["x", "x", "y"])
        #expect(entry.apply.attempts == 2)
        #expect(entry.apply.appliedFiles == ["x", "y"])
        #expect(entry.apply.lastErrorCode == "conflict")
    }

    @Test("a committed patch cannot be rolled back; revert makes a new patch pointing at it")
    func revert() async throws {
        let test = try TestEngine()
        let original = try await test.patches.create(project: "p", workstream: "w")
        let id = original.ledgerID
        try await test.patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
        try await test.patches.queue(id)
        try await test.patches.applied(id, workspace: "/ws", files: [])
        try await test.patches.verify(id, passed: true)
        try await test.patches.commit(id)
        await #expect {
            try await test.patches.rollback(id, reason: "oops")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidTransition && error?.message.contains("reverts it") == true
        }
        let revert = try await test.patches.revert(id)
        #expect(revert.state == .created)
        #expect(revert.relations.rollbackOfPatchID == original.patchID)
        #expect(revert.workstreamID == "w")
        await #expect {
            try await test.patches.revert(revert.ledgerID)
        } throws: { ($0 as? SluiceError)?.currentState == "created" }
    }

    @Test("quarantine records the reason and path; drop then ends it")
    func quarantineThenDrop() async throws {
        let test = try TestEngine()
        let id = try await test.patches.create(project: "p").ledgerID
        let quarantined = try await test.patches.quarantine(
            id, reason: "edits sluice.yml", path: ".sluice/quarantine/x")
        #expect(quarantined.quarantine.isQuarantined)
        #expect(quarantined.quarantine.quarantineReason == "edits sluice.yml")
        #expect(quarantined.quarantine.quarantinePath == ".sluice/quarantine/x")
        #expect(quarantined.quarantine.quarantinedAt == test.clock.now())
        let dropped = try await test.patches.drop(id, reason: "abandoned")
        #expect(dropped.stateHistory.last?.reason == "abandoned")
        await #expect(throws: SluiceError.self) { try await test.patches.drop(id, reason: "again") }
    }

    @Test("a patch can be named by its patch id as well as its ledger id")
    func byPatchID() async throws {
        let test = try TestEngine()
        let entry = try await test.patches.create(project: "p")
        let alias = LedgerID(entry.patchID.ulid)
        await #expect(try test.patches.get(alias).ledgerID == entry.ledgerID)
        await #expect(try test.patches.quarantine(alias, reason: "r").state == .quarantined)
        await #expect {
            try await test.patches.queue(.make())
        } throws: { ($0 as? SluiceError)?.code == .notFound }
    }

    @Test("create needs a project, and a patch id is used once")
    func createChecks() async throws {
        let test = try TestEngine()
        await #expect(throws: SluiceError.self) { try await test.patches.create(project: " ") }
        let patchID = PatchID.make()
        try await test.patches.create(project: "p", patchID: patchID)
        await #expect {
            try await test.patches.create(project: "p", patchID: patchID)
        } throws: { ($0 as? SluiceError)?.code == .conflict }
    }

    @Test("list filters by project, state and workstream, newest first")
    func list() async throws {
        let test = try TestEngine()
        let a = try await test.patches.create(project: "p", workstream: "w1").ledgerID
        test.clock.advance(milliseconds: 1)
        let b = try await test.patches.create(project: "p", workstream: "w2").ledgerID
        test.clock.advance(milliseconds: 1)
        let c = try await test.patches.create(project: "q").ledgerID
        try await test.patches.drop(c, reason: "x")
        await #expect(try test.patches.list().map(\.ledgerID) == [c, b, a])
        await #expect(try test.patches.list(PatchFilter(projectID: "p")).map(\.ledgerID) == [b, a])
        await #expect(try test.patches.list(PatchFilter(workstreamID: "w1")).map(\.ledgerID) == [a])
        await #expect(try test.patches.list(PatchFilter(state: .dropped)).map(\.ledgerID) == [c])
    }

    @Test("history is appended, never rewritten: earlier entries keep their times and reasons")
    func historyAppendOnly() async throws {
        let test = try TestEngine()
        let id = try await test.patches.create(project: "p").ledgerID
        try await test.patches.validate(id, formatOK: true, scopeOK: true, constraintsOK: true)
        let first = try await test.patches.get(id).stateHistory
        test.clock.advance(seconds: 1)
        try await test.patches.quarantine(id, reason: "later")
        let second = try await test.patches.get(id).stateHistory
        #expect(Array(second.prefix(first.count)) == first)
        #expect(second.count == first.count + 1)
    }
}
