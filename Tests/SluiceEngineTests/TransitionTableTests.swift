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
    static func workerOperations(to state: WorkerState) -> [(String, (WorkerService, WorkerID) throws -> WorkerRecord)]
    {
        switch state {
        case .idle:
            [("complete", { try $0.complete($1) }), ("resume", { try $0.resume($1) })]
        case .busy:
            [("assign", { try $0.assign($1, task: "t2") }), ("resume", { try $0.resume($1) })]
        case .paused: [("pause", { try $0.pause($1) })]
        case .stopped: [("stop", { try $0.shutdown($1) })]
        case .crashed: [("crash", { try $0.crash($1, error: "boom") })]
        }
    }

    /// Ways to bring a new worker to each state (a paused worker may or may not hold a task).
    static func workerSetups(for state: WorkerState) -> [[(WorkerService, WorkerID) throws -> Void]] {
        switch state {
        case .idle: [[]]
        case .busy: [[{ _ = try $0.assign($1, task: "t") }]]
        case .paused: [[{ _ = try $0.pause($1) }], [{ _ = try $0.assign($1, task: "t") }, { _ = try $0.pause($1) }]]
        case .stopped: [[{ _ = try $0.shutdown($1) }]]
        case .crashed: [[{ _ = try $0.crash($1, error: "x") }]]
        }
    }

    @Test("worker pairs", arguments: WorkerState.allCases.flatMap { from in WorkerState.allCases.map { (from, $0) } })
    func worker(from: WorkerState, to: WorkerState) throws {
        var succeeded = false
        for setup in Self.workerSetups(for: from) {
            for (name, operation) in Self.workerOperations(to: to) {
                let test = try TestEngine()
                let id = try test.workers.create(type: .executor).workerID
                for step in setup { try step(test.workers, id) }
                #expect(try test.workers.get(id).state == from)
                let before = try test.engine.events(entityID: id.description)
                do {
                    let after = try operation(test.workers, id)
                    if after.state == to {
                        succeeded = true
                        let events = try test.engine.events(entityID: id.description)
                        #expect(events.count == before.count + 1)
                        #expect(events.last?.fromState == from.rawValue && events.last?.toState == to.rawValue)
                    }
                } catch let error as SluiceError {
                    #expect(error.code == .invalidTransition, "\(name) from \(from)")
                    #expect(error.currentState == from.rawValue)
                    #expect(error.message.contains("it is \(from.rawValue)"))
                    #expect(try test.workers.get(id).state == from)
                    #expect(try test.engine.events(entityID: id.description) == before)
                }
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }

    // MARK: - Patches

    typealias PatchStep = @Sendable (PatchService, LedgerID) throws -> PatchLedgerEntry

    static let validateOK: PatchStep = { try $0.validate($1, formatOK: true, scopeOK: true, constraintsOK: true) }

    static func patchOperations(to state: PatchState) -> [PatchStep] {
        switch state {
        case .created: []
        case .validated: [validateOK]
        case .queued: [{ try $0.queue($1) }]
        case .applied: [{ try $0.applied($1, workspace: "/w", files: ["a"]) }]
        case .applyFailed:
            [
                { try $0.validate($1, formatOK: false, scopeOK: true, constraintsOK: true) },
                { try $0.applyFailed($1, code: "conflict", message: "hunk 1 failed") },
                { try $0.verify($1, passed: false) },
            ]
        case .verified: [{ try $0.verify($1, passed: true) }]
        case .committed: [{ try $0.commit($1) }]
        case .rolledBack: [{ try $0.rollback($1, reason: "undo") }]
        case .quarantined: [{ try $0.quarantine($1, reason: "bad", path: "/q") }]
        case .dropped: [{ try $0.drop($1, reason: "gone") }]
        }
    }

    static func patchSetup(for state: PatchState) -> [PatchStep] {
        let queued: [PatchStep] = [validateOK, { try $0.queue($1) }]
        let applied = queued + [{ try $0.applied($1, workspace: "/w", files: ["a"]) }]
        let verified = applied + [{ try $0.verify($1, passed: true) }]
        switch state {
        case .created: return []
        case .validated: return [validateOK]
        case .queued: return queued
        case .applied: return applied
        case .applyFailed: return queued + [{ try $0.applyFailed($1, code: "c", message: "m") }]
        case .verified: return verified
        case .committed: return verified + [{ try $0.commit($1) }]
        case .rolledBack: return applied + [{ try $0.rollback($1, reason: "r") }]
        case .quarantined: return [{ try $0.quarantine($1, reason: "q") }]
        case .dropped: return [{ try $0.drop($1, reason: "d") }]
        }
    }

    @Test("patch pairs", arguments: PatchState.allCases.flatMap { from in PatchState.allCases.map { (from, $0) } })
    func patch(from: PatchState, to: PatchState) throws {
        var succeeded = false
        for operation in Self.patchOperations(to: to) {
            let test = try TestEngine()
            let id = try test.patches.create(project: "p").ledgerID
            for step in Self.patchSetup(for: from) { _ = try step(test.patches, id) }
            #expect(try test.patches.get(id).state == from)
            let before = try test.engine.events(entityID: id.description)
            do {
                let after = try operation(test.patches, id)
                #expect(after.state == to)
                succeeded = true
                #expect(after.stateHistory.last?.state == to)
                #expect(try test.engine.events(entityID: id.description).count == before.count + 1)
            } catch let error as SluiceError {
                #expect(error.code == .invalidTransition)
                #expect(error.currentState == from.rawValue)
                #expect(try test.patches.get(id).state == from)
                #expect(try test.engine.events(entityID: id.description) == before)
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }

    // MARK: - Gates

    typealias GateStep = @Sendable (GateService, GateID) throws -> TestGateRecord

    static let passing = GateResults(testCases: [TestCaseResult(name: "a", status: .passed)])
    static let failing = GateResults(testCases: [TestCaseResult(name: "a", status: .failed)])

    static func gateOperations(to state: GateState) -> [GateStep] {
        switch state {
        case .pending: []
        case .running: [{ try $0.start($1, command: "make test") }]
        case .passed: [{ try $0.complete($1, exitCode: 0, results: passing) }]
        case .failed: [{ try $0.complete($1, exitCode: 1, results: failing) }]
        case .skipped: [{ try $0.skip($1, reason: "not needed") }]
        case .error: [{ try $0.fail($1, error: "crashed") }, { try $0.complete($1, exitCode: 1, results: passing) }]
        }
    }

    static func gateSetup(for state: GateState) -> [GateStep] {
        let start: GateStep = { try $0.start($1) }
        switch state {
        case .pending: return []
        case .running: return [start]
        case .passed: return [start, { try $0.complete($1, exitCode: 0, results: passing) }]
        case .failed: return [start, { try $0.complete($1, exitCode: 1, results: failing) }]
        case .skipped: return [{ try $0.skip($1, reason: "s") }]
        case .error: return [start, { try $0.fail($1, error: "e") }]
        }
    }

    @Test("gate pairs", arguments: GateState.allCases.flatMap { from in GateState.allCases.map { (from, $0) } })
    func gate(from: GateState, to: GateState) throws {
        var succeeded = false
        for operation in Self.gateOperations(to: to) {
            let test = try TestEngine()
            let id = try test.gates.create(name: "unit", type: .unitTests).gateID
            for step in Self.gateSetup(for: from) { _ = try step(test.gates, id) }
            #expect(try test.gates.get(id).state == from)
            let before = try test.engine.events(entityID: id.description)
            do {
                let after = try operation(test.gates, id)
                #expect(after.state == to)
                succeeded = true
                #expect(try test.engine.events(entityID: id.description).count == before.count + 1)
            } catch let error as SluiceError {
                #expect(error.code == .invalidTransition)
                #expect(error.currentState == from.rawValue)
                #expect(try test.gates.get(id).state == from)
                #expect(try test.engine.events(entityID: id.description) == before)
            }
        }
        #expect(succeeded == from.canTransition(to: to), "\(from) → \(to)")
    }
}
