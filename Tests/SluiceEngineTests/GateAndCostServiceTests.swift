import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

@Suite("GateService")
struct GateServiceTests {
    @Test("a gate runs, is judged by its criteria, and records the execution")
    func run() async throws {
        let test = try TestEngine()
        let gate = try await test.gates.create(
            name: "unit", type: .unitTests, project: "p",
            criteria: GateCriteria(minCoverage: 80, requiredTests: ["tests.test_calc.test_add"], timeoutSeconds: 60))
        try await test.gates.start(gate.gateID, command: "pytest")
        test.clock.advance(seconds: 4)
        let results = GateResults(
            testCases: [TestCaseResult(name: "test_add", classname: "tests.test_calc", status: .passed)],
            coveragePercent: 85)
        let done = try await test.gates.complete(gate.gateID, exitCode: 0, results: results)
        #expect(done.state == .passed)
        #expect(done.execution.durationSeconds == 4)
        #expect(done.decision?.criteriaMet == ["max_failures": true, "min_coverage": true, "required_tests": true])
        await #expect(try test.gates.get(gate.gateID) == done)
        let last = try await #require(try test.engine.events(entityID: gate.gateID.description).last)
        #expect(last.toState == "passed" && last.reason == done.decision?.reason)
    }

    @Test("failing tests make the gate failed, naming them")
    func failed() async throws {
        let test = try TestEngine()
        let id = try await test.gates.create(name: "unit", type: .unitTests).gateID
        try await test.gates.start(id)
        let done = try await test.gates.complete(
            id, exitCode: 1,
            results: GateResults(testCases: [TestCaseResult(name: "test_sub", classname: "calc", status: .failed)]))
        #expect(done.state == .failed)
        #expect(done.decision?.reason.contains("calc.test_sub") == true)
    }

    @Test("bad criteria and an empty name are refused; unknown gates are notFound")
    func inputs() async throws {
        let test = try TestEngine()
        await #expect(throws: SluiceError.self) { try await test.gates.create(name: "", type: .lint) }
        await #expect(throws: SluiceError.self) {
            try await test.gates.create(name: "x", type: .lint, criteria: GateCriteria(timeoutSeconds: 0))
        }
        await #expect(try test.gates.list().isEmpty)
        await #expect {
            try await test.gates.start(.make())
        } throws: { ($0 as? SluiceError)?.code == .notFound }
    }

    @Test("list filters by project, state and type")
    func list() async throws {
        let test = try TestEngine()
        let a = try await test.gates.create(name: "a", type: .lint, project: "p").gateID
        test.clock.advance(milliseconds: 1)
        let b = try await test.gates.create(name: "b", type: .unitTests, project: "q").gateID
        try await test.gates.skip(a, reason: "no linter")
        await #expect(try test.gates.list().map(\.gateID) == [b, a])
        await #expect(try test.gates.list(GateFilter(state: .skipped)).map(\.gateID) == [a])
        await #expect(try test.gates.list(GateFilter(projectID: "q", gateType: .unitTests)).map(\.gateID) == [b])
    }
}

@Suite("CostService")
struct CostServiceTests {
    func decimal(_ text: String) throws -> ExactDecimal { try ExactDecimal(parsing: text) }

    @Test("ten records of 0.1 total exactly 1")
    func tenTenths() async throws {
        let test = try TestEngine()
        for _ in 0..<10 { try await test.costs.record(type: .apiCall, amount: decimal("0.1"), project: "p") }
        let totals = try await test.costs.total(CostFilter(projectID: "p"))
        #expect(totals == [CostTotal(currency: .usd, amount: try decimal("1"), count: 10)])
        #expect(totals[0].amount.description == "1")
    }

    @Test("without an amount, amount = quantity × rate, exactly")
    func fromUsage() async throws {
        let test = try TestEngine()
        let record = try await test.costs.record(
            type: .apiCall, amount: nil, resourceName: "claude",
            usage: CostUsage(quantity: try decimal("1500"), unit: "tokens", rate: try decimal("0.000003")),
            metadata: ["tokens_input": .number(1500)])
        #expect(record.amount?.description == "0.0045")
        await #expect(try test.costs.get(record.costID) == record)
    }

    @Test("a cost with neither amount nor usage, or a disagreeing amount, is refused")
    func refused() async throws {
        let test = try TestEngine()
        await #expect(throws: SluiceError.self) { try await test.costs.record(type: .apiCall, amount: nil) }
        await #expect(throws: SluiceError.self) {
            try await test.costs.record(
                type: .apiCall, amount: decimal("1"),
                usage: CostUsage(quantity: try decimal("2"), unit: "s", rate: try decimal("1")))
        }
        await #expect(throws: SluiceError.self) {
            try await test.costs.record(type: .apiCall, amount: decimal("-0.01"))
        }
        await #expect(throws: SluiceError.self) {
            try await test.costs.record(type: .apiCall, amount: decimal("1"), project: "")
        }
        await #expect(try test.costs.list().isEmpty)
        await #expect(try test.engine.events().isEmpty)
    }

    @Test("totals are per currency and never summed across currencies")
    func perCurrency() async throws {
        let test = try TestEngine()
        try await test.costs.record(type: .apiCall, amount: decimal("1.25"))
        try await test.costs.record(type: .apiCall, amount: decimal("2"), currency: Currency("EUR"))
        let totals = try await test.costs.total()
        #expect(totals.map(\.currency.code) == ["EUR", "USD"])
        #expect(totals.map(\.amount.description) == ["2", "1.25"])
        await #expect(try test.costs.total(CostFilter(currency: .usd)).count == 1)
    }

    @Test("breakdown groups by resource type; filters by request and type")
    func breakdown() async throws {
        let test = try TestEngine()
        let request = ExecutionRequestID.make()
        try await test.costs.record(type: .apiCall, amount: decimal("0.1"), request: request)
        try await test.costs.record(type: .apiCall, amount: decimal("0.2"), request: request)
        try await test.costs.record(type: .computeTime, amount: decimal("3"), request: request)
        try await test.costs.record(type: .computeTime, amount: decimal("100"))
        let rows = try await test.costs.breakdown(CostFilter(executionRequestID: request))
        #expect(rows.map(\.resourceType) == [.apiCall, .computeTime])
        #expect(rows.map(\.amount.description) == ["0.3", "3"])
        await #expect(
            try test.costs.total(CostFilter(resourceType: .computeTime)).first?.amount == (try decimal("103")))
    }

    @Test("delete removes the record and the event keeps what was deleted")
    func delete() async throws {
        let test = try TestEngine()
        let record = try await test.costs.record(type: .storage, amount: decimal("7.5"), project: "p")
        try await test.costs.delete(record.costID)
        await #expect(try test.costs.total(CostFilter(projectID: "p")).isEmpty)
        await #expect {
            try await test.costs.get(record.costID)
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        let events = try await test.engine.events(entityID: record.costID.description)
        #expect(events.map(\.toState) == ["recorded", "deleted"])
        guard case .object(let deleted) = events[1].payload["deleted"] else {
            Issue.record("the deletion event has no record")
            return
        }
        #expect(deleted["amount"] == .number(try #require(record.amount).decimal))
        #expect(deleted["project_id"] == .string("p"))
        await #expect {
            try await test.costs.delete(record.costID)
        } throws: { ($0 as? SluiceError)?.code == .notFound }
    }

    @Test("list is newest first with a limit")
    func list() async throws {
        let test = try TestEngine()
        var ids: [CostID] = []
        for index in 0..<5 {
            test.clock.advance(milliseconds: 1)
            await ids.append(try test.costs.record(type: .network, amount: decimal(String(index))).costID)
        }
        await #expect(try test.costs.list(limit: 2).map(\.costID) == [ids[4], ids[3]])
        await #expect(try test.costs.list().count == 5)
        await #expect(throws: SluiceError.self) { try await test.costs.list(limit: -1) }
    }

    @Test("a batch that would overflow a currency's total is refused whole; the totals stay exact integers")
    func overflowingBatch() async throws {
        let test = try TestEngine()
        try await test.costs.record(type: .apiCall, amount: decimal("9000000000"), project: "a")
        func record(_ amount: String, project: String) async throws -> CostRecord {
            try CostRecord(
                costID: .make(), projectID: project, resourceType: .custom, amount: decimal(amount), currency: .usd,
                recordedAt: test.clock.now())
        }
        // Each record fits, and so would the first alone; the batch's running sum does not.
        let batch = await [try record("100000000", project: "b"), try record("200000000", project: "c")]
        await #expect {
            try await test.costs.importRecords(batch)
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains("USD") == true
        }
        await #expect(try test.costs.list().count == 1)
        await #expect(try test.costs.total() == [CostTotal(currency: .usd, amount: decimal("9000000000"), count: 1)])
        await #expect(try test.costs.breakdown().count == 1)
        // The largest amount that still fits is taken, exactly.
        let room = ExactDecimal(units: Int64.max - 9_000_000_000 * ExactDecimal.unitsPerOne)
        try await test.costs.record(type: .apiCall, amount: room, project: "d")
        await #expect(try test.costs.total().first?.amount == ExactDecimal(units: .max))
        await #expect(throws: SluiceError.self) {
            try await test.costs.record(type: .apiCall, amount: decimal("0.000000001"))
        }
    }
}
