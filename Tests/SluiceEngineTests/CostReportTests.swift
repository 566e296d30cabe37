import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// `sluice cost report` through the service, on every backend.
@Suite("Cost reports")
struct CostReportTests {
    static func amount(_ text: String) -> ExactDecimal { try! ExactDecimal(parsing: text) }

    func engine(_ kind: StoreKind, _ clock: FakeClock) async throws -> Engine {
        Engine(
            EngineContext(storage: try await kind.make(), clock: clock, ids: ULIDGenerator(clock: clock), actor: "t"))
    }

    @Test(
        "by project, model and resource type from the daily sums, per currency, unpriced apart, within days",
        arguments: StoreKind.allCases)
    func dimensions(kind: StoreKind) async throws {
        let clock = FakeClock(start: try Timestamp(parsing: "2026-03-01T23:59:59.000Z"))
        let engine = try await engine(kind, clock)
        let costs = engine.costs
        try await costs.record(type: .apiCall, amount: Self.amount("1.5"), project: "a", resourceName: "m1")
        clock.advance(seconds: 1)  // 2 March
        try await costs.record(type: .apiCall, amount: Self.amount("0.25"), project: "a", resourceName: "m2")
        // Unpriced: no amount at all, counted apart and in no total.
        try await costs.importRecords([
            try CostRecord(
                costID: .make(), projectID: "b", resourceType: .apiCall, resourceName: "mystery", amount: nil,
                currency: .usd, recordedAt: clock.now(), metadata: ["amount_source": .string("unpriced")])
        ])
        try await costs.record(type: .computeTime, amount: Self.amount("2"), currency: try Currency("EUR"))
        let byProject = try await costs.report(by: .project).rows
        #expect(byProject.map(\.key) == ["a", "b", nil])
        #expect(byProject.map(\.amount) == [Self.amount("1.75"), .zero, Self.amount("2")])
        #expect(byProject.map(\.unpriced) == [0, 1, 0])
        #expect(byProject.last?.currency.code == "EUR")
        let byModel = try await costs.report(by: .model, try CostReportRange(since: "2026-03-02")).rows
        #expect(byModel.map(\.key) == ["m2", "mystery", nil])
        let firstDay = try await costs.report(by: .resourceType, try CostReportRange(until: "2026-03-02")).rows
        #expect(firstDay.map(\.key) == ["api_call"] && firstDay.first?.amount == Self.amount("1.5"))
        // A deleted record leaves the sums.
        let second = try #require(try await costs.list(CostFilter(projectID: "a"), limit: 1).first)
        try await costs.delete(second.costID)
        #expect(try await costs.report(by: .project).rows.first?.amount == Self.amount("1.5"))
        #expect(throws: SluiceError.self) { try CostReportRange(since: "2026-3-1") }
        #expect(throws: SluiceError.self) { try CostReportRange(since: "2026-03-02", until: "2026-03-02") }
    }

    @Test(
        "by outcome: spend follows tasks and patches; the cost per landed patch and the share wasted",
        arguments: StoreKind.allCases)
    func outcomes(kind: StoreKind) async throws {
        let clock = FakeClock()
        let engine = try await engine(kind, clock)
        let worker = try await engine.workers.create(type: .executor).workerID
        func task() async throws -> TaskRecord {
            _ = try await engine.tasks.add(TaskRequest(prompt: "x", projectID: "p", executionRequestID: .make()))
            return try #require(try await engine.tasks.claim(for: worker))
        }
        func cost(_ amount: String, _ metadata: [String: JSONValue]) async throws {
            try await engine.costs.record(type: .apiCall, amount: Self.amount(amount), project: "p", metadata: metadata)
        }
        // Two tasks whose patches landed, one whose patch was quarantined, one that failed.
        var landed: [LedgerID] = []
        for _ in 0..<2 {
            let claimed = try await task()
            let patch = try await engine.patches.create(project: "p").ledgerID
            try await engine.patches.validate(patch, formatOK: true, scopeOK: true, constraintsOK: true)
            try await engine.patches.queue(patch)
            try await engine.patches.applied(patch, workspace: "/w", files: [])
            try await engine.patches.verify(patch, passed: true)
            try await engine.patches.commit(patch)
            try await engine.tasks.complete(claimed.taskID, epoch: claimed.epoch, patch: patch)
            try await cost("1", ["task_id": .string(claimed.taskID.description)])
            try await cost("0.5", ["ledger_id": .string(patch.description)])  // its gate's time
            landed.append(patch)
        }
        let quarantinedTask = try await task()
        let bad = try await engine.patches.create(project: "p").ledgerID
        try await engine.patches.quarantine(bad, reason: "gate failed")
        try await engine.tasks.complete(quarantinedTask.taskID, epoch: quarantinedTask.epoch, patch: bad)
        try await cost("2", ["task_id": .string(quarantinedTask.taskID.description)])
        let failed = try await task()
        try await engine.tasks.fail(failed.taskID, epoch: failed.epoch, reason: "agent error")
        try await cost("1", ["task_id": .string(failed.taskID.description)])
        try await cost("0.1", [:])
        let report = try await engine.costs.report(by: .outcome)
        #expect(report.rows.map(\.key) == ["landed", "quarantined", "nothing", "unattributed"])
        #expect(
            report.rows.map(\.amount) == [Self.amount("3"), Self.amount("2"), Self.amount("1"), Self.amount("0.1")])
        let summary = try #require(report.outcomes.first)
        #expect(summary.total == Self.amount("6.1") && summary.landedPatches == 2)
        #expect(summary.costPerLandedPatch == Self.amount("3.05"))
        #expect(summary.wasted == Self.amount("3") && summary.wastedPercent == "49.2")
        #expect(try await engine.costs.report(by: .task).rows.count == 5)
    }

    @Test(
        "an agent's own cost that disagrees with the price is counted and summed in its group, by every dimension",
        arguments: StoreKind.allCases)
    func disagreements(kind: StoreKind) async throws {
        let clock = FakeClock(start: try Timestamp(parsing: "2026-04-10T12:00:00.000Z"))
        let engine = try await engine(kind, clock)
        func record(_ priced: String?, reported: String?, project: String, task: String, flag: Bool? = nil)
            async throws
        {
            var metadata: [String: JSONValue] = ["task_id": .string(task), "worker_id": .string("w-" + task)]
            if let reported, let priced {
                let difference = Self.amount(reported).units - Self.amount(priced).units
                metadata["reported_amount"] = .string(reported)
                metadata["reported_difference"] = .string(ExactDecimal(units: difference).description)
                metadata["reported_disagrees"] = .bool(
                    flag ?? ReportedCost.disagrees(priced: Self.amount(priced), reported: Self.amount(reported)))
            }
            try await engine.costs.importRecords([
                try CostRecord(
                    costID: .make(), projectID: project, resourceType: .apiCall, resourceName: "m",
                    amount: priced.map(Self.amount), currency: .usd, recordedAt: clock.now(), metadata: metadata)
            ])
        }
        try await record("1", reported: "1.04", project: "a", task: "t1")  // within 5 %
        try await record("1", reported: "1.30", project: "a", task: "t1")  // +0.3
        try await record("2", reported: "1.50", project: "a", task: "t2")  // -0.5
        try await record("0.00001", reported: "0.00009", project: "b", task: "t3")  // under the 0.0001 floor
        try await record("1", reported: "1.01", project: "b", task: "t3", flag: true)  // a flag alone decides nothing
        try await record(nil, reported: nil, project: "b", task: "t4")  // unpriced
        let byProject = try await engine.costs.report(by: .project).rows
        #expect(byProject.map(\.key) == ["a", "b"])
        #expect(byProject.map(\.disagreeing) == [2, 0])
        #expect(byProject.map(\.reportedDifference) == [Self.amount("-0.2"), .zero])
        #expect(byProject.map(\.unpriced) == [0, 1])
        let byTask = try await engine.costs.report(by: .task).rows
        #expect(byTask.map(\.disagreeing) == [1, 1, 0, 0])
        #expect(byTask.map(\.reportedDifference) == [Self.amount("0.3"), Self.amount("-0.5"), .zero, .zero])
        let byWorker = try await engine.costs.report(by: .worker).rows
        #expect(byWorker.first?.key == "w-t1" && byWorker.first?.disagreeing == 1)
        let byModel = try await engine.costs.report(by: .model).rows
        #expect(byModel.map(\.disagreeing) == [2])
        // Outside the days asked for, nothing.
        let later = try await engine.costs.report(by: .project, try CostReportRange(since: "2026-04-11")).rows
        #expect(later.isEmpty)
        #expect(ReportedCost.disagrees(priced: Self.amount("100"), reported: Self.amount("105")) == false)
        #expect(ReportedCost.disagrees(priced: Self.amount("100"), reported: Self.amount("105.000000001")))
        #expect(ReportedCost.disagrees(priced: .zero, reported: Self.amount("0.0001")) == false)
        #expect(ReportedCost.disagrees(priced: .zero, reported: Self.amount("0.000100001")))
    }
}
