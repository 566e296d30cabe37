import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// Every (from, to) pair of each state machine, driven through the services over real SQLite:
/// allowed pairs succeed and append one event; the others fail with the typed error, naming the
/// current state, and change nothing.
@Suite("Transitions through the services")
struct TransitionTableTests {
    // MARK: - Workers

    /// Operations that lead to each worker state.
    static func workerOperations(to state: WorkerState) -> [(
        String, (WorkerService, WorkerID) async throws -> WorkerRecord
    )] {
        switch state {
        case .idle:
            [("complete", { try await $0.complete($1) }), ("resume", { try await $0.resume($1) })]
        case .busy:
            [("assign", { try await $0.assign($1, task: "t2") }), ("resume", { try await $0.resume($1) })]
        case .paused: [("pause", { try await $0.pause($1) })]
        case .stopped: [("stop", { try await $0.shutdown($1) })]
        case .crashed: [("crash", { try await $0.crash($1, error: "boom") })]
        }
    }

    /// Ways to bring a new worker to each state (a paused worker may or may not hold a task).
    static func workerSetups(for state: WorkerState) -> [[(WorkerService, WorkerID) async throws -> Void]] {
        switch state {
        case .idle: [[]]
        case .busy: [[{ _ = try await $0.assign($1, task: "t") }]]
        case .paused:
            [
                [{ _ = try await $0.pause($1) }],
                [{ _ = try await $0.assign($1, task: "t") }, { _ = try await $0.pause($1) }],
            ]
        case .stopped: [[{ _ = try await $0.shutdown($1) }]]
        case .crashed: [[{ _ = try await $0.crash($1, error: "x") }]]
        }
    }

    @Test("worker pairs", arguments: WorkerState.allCases.flatMap { from in WorkerState.allCases.map { (from, $0) } })
    func worker(from: WorkerState, to: WorkerState) async throws {
        var succeeded = false
        for setup in Self.workerSetups(for: from) {
            for (name, operation) in Self.workerOperations(to: to) {
                let test = try TestEngine()
                let id = try await test.workers.create(type: .executor).workerID
                for step in setup { try await step(test.workers, id) }
                await #expect(try test.workers.get(id).state == from)
                let before = try await test.engine.events(entityID: id.description)
                do {
                    let after = try await operation(test.workers, id)
                    if after.state == to {
                        succeeded = true
                        let events = try await test.engine.events(entityID: id.description)
                        #expect(events.count == before.count + 1)
                        #expect(events.last?.fromState == from.rawValue && events.last?.toState == to.rawValue)
                    }
                } catch let error as SluiceError {
                    #expect(error.code == .invalidTransition, "\(name) from \(from)")
                    #expect(error.currentState == from.rawValue)
                    #expect(error.message.contains("it is \(from.rawValue)"))
                    await #expect(try test.workers.get(id).state == from)
                    await #expect(try test.engine.events(entityID: id.description) == before)
                }
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }

    // MARK: - Patches

    typealias PatchStep = @Sendable (PatchService, LedgerID) async throws -> PatchLedgerEntry

    static let validateOK: PatchStep = { try await $0.validate($1, formatOK: true, scopeOK: true, constraintsOK: true) }

    static func patchOperations(to state: PatchState) -> [PatchStep] {
        switch state {
        case .created: []
        case .validated: [validateOK]
        case .queued: [{ try await $0.queue($1) }]
        case .applied: [{ try await $0.applied($1, workspace: "/w", files: ["a"]) }]
        case .applyFailed:
            [
                { try await $0.validate($1, formatOK: false, scopeOK: true, constraintsOK: true) },
                { try await $0.applyFailed($1, code: "conflict", message: "hunk 1 failed") },
                { try await $0.verify($1, passed: false) },
            ]
        case .verified: [{ try await $0.verify($1, passed: true) }]
        case .committed: [{ try await $0.commit($1) }]
        case .rolledBack: [{ try await $0.rollback($1, reason: "undo") }]
        case .quarantined: [{ try await $0.quarantine($1, reason: "bad", path: "/q") }]
        case .dropped: [{ try await $0.drop($1, reason: "gone") }]
        }
    }

    static func patchSetup(for state: PatchState) -> [PatchStep] {
        let queued: [PatchStep] = [validateOK, { try await $0.queue($1) }]
        let applied = queued + [{ try await $0.applied($1, workspace: "/w", files: ["a"]) }]
        let verified = applied + [{ try await $0.verify($1, passed: true) }]
        switch state {
        case .created: return []
        case .validated: return [validateOK]
        case .queued: return queued
        case .applied: return applied
        case .applyFailed: return queued + [{ try await $0.applyFailed($1, code: "c", message: "m") }]
        case .verified: return verified
        case .committed: return verified + [{ try await $0.commit($1) }]
        case .rolledBack: return applied + [{ try await $0.rollback($1, reason: "r") }]
        case .quarantined: return [{ try await $0.quarantine($1, reason: "q") }]
        case .dropped: return [{ try await $0.drop($1, reason: "d") }]
        }
    }

    @Test("patch pairs", arguments: PatchState.allCases.flatMap { from in PatchState.allCases.map { (from, $0) } })
    func patch(from: PatchState, to: PatchState) async throws {
        var succeeded = false
        for operation in Self.patchOperations(to: to) {
            let test = try TestEngine()
            let id = try await test.patches.create(project: "p").ledgerID
            for step in Self.patchSetup(for: from) { _ = try await step(test.patches, id) }
            await #expect(try test.patches.get(id).state == from)
            let before = try await test.engine.events(entityID: id.description)
            do {
                let after = try await operation(test.patches, id)
                #expect(after.state == to)
                succeeded = true
                #expect(after.stateHistory.last?.state == to)
                await #expect(try test.engine.events(entityID: id.description).count == before.count + 1)
            } catch let error as SluiceError {
                #expect(error.code == .invalidTransition)
                #expect(error.currentState == from.rawValue)
                await #expect(try test.patches.get(id).state == from)
                await #expect(try test.engine.events(entityID: id.description) == before)
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }

    // MARK: - Gates

    typealias GateStep = @Sendable (GateService, GateID) async throws -> TestGateRecord

    static let passing = GateResults(testCases: [TestCaseResult(name: "a", status: .passed)])
    static let failing = GateResults(testCases: [TestCaseResult(name: "a", status: .failed)])

    static func gateOperations(to state: GateState) -> [GateStep] {
        switch state {
        case .pending: []
        case .running: [{ try await $0.start($1, command: "make test") }]
        case .passed: [{ try await $0.complete($1, exitCode: 0, results: passing) }]
        case .failed: [{ try await $0.complete($1, exitCode: 1, results: failing) }]
        case .skipped: [{ try await $0.skip($1, reason: "not needed") }]
        case .error:
            [{ try await $0.fail($1, error: "crashed") }, { try await $0.complete($1, exitCode: 1, results: passing) }]
        }
    }

    static func gateSetup(for state: GateState) -> [GateStep] {
        let start: GateStep = { try await $0.start($1) }
        switch state {
        case .pending: return []
        case .running: return [start]
        case .passed: return [start, { try await $0.complete($1, exitCode: 0, results: passing) }]
        case .failed: return [start, { try await $0.complete($1, exitCode: 1, results: failing) }]
        case .skipped: return [{ try await $0.skip($1, reason: "s") }]
        case .error: return [start, { try await $0.fail($1, error: "e") }]
        }
    }

    @Test("gate pairs", arguments: GateState.allCases.flatMap { from in GateState.allCases.map { (from, $0) } })
    func gate(from: GateState, to: GateState) async throws {
        var succeeded = false
        for operation in Self.gateOperations(to: to) {
            let test = try TestEngine()
            let id = try await test.gates.create(name: "unit", type: .unitTests).gateID
            for step in Self.gateSetup(for: from) { _ = try await step(test.gates, id) }
            await #expect(try test.gates.get(id).state == from)
            let before = try await test.engine.events(entityID: id.description)
            do {
                let after = try await operation(test.gates, id)
                #expect(after.state == to)
                succeeded = true
                await #expect(try test.engine.events(entityID: id.description).count == before.count + 1)
            } catch let error as SluiceError {
                #expect(error.code == .invalidTransition)
                #expect(error.currentState == from.rawValue)
                await #expect(try test.gates.get(id).state == from)
                await #expect(try test.engine.events(entityID: id.description) == before)
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }
}
