import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// A ledger with every kind of record, made through the services, for the copy tests: workers through
/// their transitions, patches through the pipeline's states (one with a diff that is not UTF-8),
/// gates with results, costs in two currencies and a deleted cost.
struct LedgerFixture {
    /// A diff whose bytes are not UTF-8 (Latin-1 é, a lone 0xFF), as an agent may submit.
    static let diff: [UInt8] =
        Array("diff --git a/n.txt b/n.txt\n--- a/n.txt\n+++ b/n.txt\n@@ -1 +1 @@\n-caf".utf8) + [0xE9, 0x0A]
        + Array("+caf".utf8) + [0xFF, 0xFE, 0x0A]

    let idleWorker: WorkerID
    let committedPatch: LedgerID
    let deletedCost: CostID

    /// Makes the ledger on `storage`.
    static func make(on storage: any Storage) async throws -> LedgerFixture {
        let clock = FakeClock()
        let engine = Engine(EngineContext(storage: storage, clock: clock, ids: ULIDGenerator(clock: clock), actor: "t"))
        func tick() { clock.advance(milliseconds: 1500) }

        // Workers: one through a task, a pause and a shutdown; one crashed with its task; one idle.
        let busy = try await engine.workers.create(
            type: .executor, config: WorkerConfig(maxParallelTasks: 2),
            metadata: ["agent": .string("codex"), "n": .number(1.5)])
        tick()
        try await engine.workers.assign(busy.workerID, task: "T-1")
        try await engine.workers.complete(busy.workerID, success: true, executionSeconds: 2.25)
        try await engine.workers.assign(busy.workerID, task: "T-2")
        try await engine.workers.pause(busy.workerID)
        try await engine.workers.resume(busy.workerID)
        try await engine.workers.complete(busy.workerID, success: false, executionSeconds: 0.5)
        try await engine.workers.shutdown(busy.workerID)
        tick()
        let crashed = try await engine.workers.create(type: .monitor)
        try await engine.workers.assign(crashed.workerID, task: "T-3")
        try await engine.workers.crash(crashed.workerID, error: "out of memory", stackTrace: "at 0x1\nat 0x2")
        let idle = try await engine.workers.create(type: .validator)
        tick()
        try await engine.workers.heartbeat(idle.workerID)

        // Patches: a submitted one committed through the pipeline's steps, with its commits; a second
        // with the same diff (stored once), failed, retried, quarantined and dropped; the revert of the
        // first, rolled back after applying.
        let source = PatchSource(
            bytes: diff, message: "Caf\u{E9} with an accent", madeOn: String(repeating: "a", count: 40),
            author: "Ada Lovelace <ada@example.com>")
        let landed = try await engine.patches.create(
            project: "p1", phase: "ph", workstream: "ws", request: ExecutionRequestID.make(ULIDGenerator()),
            relations: PatchRelations(chainID: "chain-1"), source: source)
        tick()
        try await engine.patches.validate(landed.ledgerID, formatOK: true, scopeOK: true, constraintsOK: true)
        try await engine.patches.queue(landed.ledgerID)
        try await engine.patches.applied(
            landed.ledgerID, on: String(repeating: "b", count: 40), workspace: "/tmp/ws", files: ["n.txt"])
        try await engine.patches.verified(landed.ledgerID, tested: String(repeating: "c", count: 40), reason: "gates")
        try await engine.patches.committed(landed.ledgerID, landed: String(repeating: "d", count: 40))
        tick()
        let failed = try await engine.patches.create(project: "p1", source: PatchSource(bytes: diff))
        try await engine.patches.validate(
            failed.ledgerID, formatOK: true, scopeOK: false, constraintsOK: true, errors: ["scope: src/ only"])
        try await engine.patches.queue(failed.ledgerID)
        try await engine.patches.applyFailed(failed.ledgerID, code: "conflict", message: "hunk 1 failed")
        try await engine.patches.quarantine(failed.ledgerID, reason: "flaky", path: ".sluice/quarantine/x")
        try await engine.patches.drop(failed.ledgerID, reason: "abandoned")
        tick()
        let revert = try await engine.patches.revert(landed.ledgerID)
        try await engine.patches.validate(revert.ledgerID, formatOK: true, scopeOK: true, constraintsOK: true)
        try await engine.patches.queue(revert.ledgerID)
        try await engine.patches.applied(revert.ledgerID, workspace: "/tmp/ws2", files: ["n.txt"])
        try await engine.patches.rollback(revert.ledgerID, reason: "not needed")

        // Gates: one failed with parsed results, one skipped, one in error.
        let unit = try await engine.gates.create(
            name: "unit", type: .unitTests, project: "p1",
            criteria: GateCriteria(minCoverage: 80, maxFailures: 0, requiredTests: ["Suite.a"], timeoutSeconds: 60),
            metadata: ["runner": .string("swift test")])
        tick()
        try await engine.gates.start(unit.gateID, command: "swift test")
        tick()
        try await engine.gates.complete(
            unit.gateID, exitCode: 1,
            results: GateResults(
                testCases: [
                    TestCaseResult(name: "a", classname: "Suite", status: .passed, durationSeconds: 0.125),
                    TestCaseResult(name: "b", classname: "Suite", status: .failed, durationSeconds: 1.5),
                ], coveragePercent: 81.25, failures: [TestFailure(testName: "Suite.b", errorMessage: "2 != 3")]))
        let lint = try await engine.gates.create(name: "lint", type: .lint)
        try await engine.gates.skip(lint.gateID, reason: "no linter")
        let scan = try await engine.gates.create(name: "scan", type: .securityScan)
        try await engine.gates.start(scan.gateID)
        try await engine.gates.fail(scan.gateID, error: "scanner crashed", exitCode: 139)

        // Costs: three tenths of a dollar (exact), euros with usage, and one deleted.
        let request = ExecutionRequestID.make(ULIDGenerator())
        for _ in 0..<3 {
            try await engine.costs.record(
                type: .apiCall, amount: try ExactDecimal(parsing: "0.1"), project: "p1", request: request,
                resourceName: "model-x", metadata: ["tokens_input": .number(1200)])
        }
        let euro = try Currency("EUR")
        try await engine.costs.record(
            type: .computeTime, amount: nil, currency: euro, project: "p1",
            usage: CostUsage(
                quantity: try ExactDecimal(parsing: "12.5"), unit: "s", rate: try ExactDecimal(parsing: "0.02")))
        let deleted = try await engine.costs.record(type: .toolUsage, amount: try ExactDecimal(parsing: "7"))
        try await engine.costs.delete(deleted.costID)

        return LedgerFixture(idleWorker: idle.workerID, committedPatch: landed.ledgerID, deletedCost: deleted.costID)
    }
}

/// Everything a ledger holds, read through the storage API in the order it lists things.
struct LedgerContents: Equatable {
    var workers: [WorkerRecord]
    var patches: [PatchLedgerEntry]
    var sources: [LedgerID: PatchSource]
    var gates: [TestGateRecord]
    var costs: [CostRecord]
    var events: [Event]
    var totals: [CostTotal]
    var breakdown: [CostBreakdownRow]

    static func read(_ storage: any Storage) async throws -> LedgerContents {
        let patches = try await storage.patches(PatchFilter())
        var sources: [LedgerID: PatchSource] = [:]
        for entry in patches {
            if let source = try await storage.patchSource(entry.ledgerID) { sources[entry.ledgerID] = source }
        }
        return LedgerContents(
            workers: try await storage.workers(state: nil, type: nil), patches: patches, sources: sources,
            gates: try await storage.gates(GateFilter()), costs: try await storage.costs(CostFilter(), limit: nil),
            events: try await storage.events(entityID: nil, after: 0, limit: nil),
            totals: try await storage.costTotals(CostFilter()), breakdown: try await storage.costBreakdown(CostFilter())
        )
    }

    /// Expects `copy` to equal this ledger, kind by kind.
    func expectEqual(_ copy: LedgerContents, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(copy.workers == workers, sourceLocation: sourceLocation)
        #expect(copy.patches == patches, sourceLocation: sourceLocation)
        #expect(copy.sources == sources, sourceLocation: sourceLocation)
        #expect(copy.gates == gates, sourceLocation: sourceLocation)
        #expect(copy.costs == costs, sourceLocation: sourceLocation)
        #expect(copy.events.map(\.sequence) == events.map(\.sequence), sourceLocation: sourceLocation)
        #expect(copy.events == events, sourceLocation: sourceLocation)
        #expect(copy.totals == totals, sourceLocation: sourceLocation)
        #expect(copy.breakdown == breakdown, sourceLocation: sourceLocation)
    }
}
