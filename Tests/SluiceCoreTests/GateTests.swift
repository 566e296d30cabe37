import Foundation
import SluiceCore
import Testing

@Suite("Gate criteria")
struct GateCriteriaTests {
    let cases = [
        TestCaseResult(name: "test_add", classname: "tests.test_calc", status: .passed, durationSeconds: 0.01),
        TestCaseResult(name: "test_sub", classname: "tests.test_calc", status: .failed, durationSeconds: 0.02),
        TestCaseResult(name: "test_skip", classname: "tests.test_calc", status: .skipped),
    ]

    @Test("a gate with no criteria passes when the results show no failure")
    func noCriteriaPasses() {
        let results = GateResults(testCases: [cases[0], cases[2]])
        let decision = GateCriteria().evaluate(results)
        #expect(decision.passed)
        #expect(decision.criteriaMet == ["max_failures": true])
    }

    @Test("a gate with no criteria fails when any test failed")
    func noCriteriaFails() {
        let decision = GateCriteria().evaluate(GateResults(testCases: cases))
        #expect(!decision.passed)
        #expect(decision.reason.contains("max_failures"))
        #expect(decision.reason.contains("tests.test_calc.test_sub"))
    }

    @Test("max_failures allows up to its count")
    func maxFailures() {
        #expect(GateCriteria(maxFailures: 1).evaluate(GateResults(testCases: cases)).passed)
        let strict = GateCriteria(maxFailures: 0).evaluate(GateResults(testCases: cases))
        #expect(strict.criteriaMet["max_failures"] == false)
    }

    @Test("min_coverage compares the reported coverage, and fails when none is reported")
    func minCoverage() {
        let criteria = GateCriteria(minCoverage: 80)
        let good = criteria.evaluate(GateResults(testCases: [cases[0]], coveragePercent: 80))
        #expect(good.passed && good.criteriaMet["min_coverage"] == true)
        let low = criteria.evaluate(GateResults(testCases: [cases[0]], coveragePercent: 72.5))
        #expect(!low.passed)
        #expect(low.reason.contains("min_coverage: 72.50% < 80%"))
        let missing = criteria.evaluate(GateResults(testCases: [cases[0]]))
        #expect(missing.criteriaMet["min_coverage"] == false)
        #expect(missing.reason.contains("no coverage"))
    }

    @Test("a required test matches by classname.name or by name", arguments: ["tests.test_calc.test_add", "test_add"])
    func requiredMatches(name: String) {
        let decision = GateCriteria(maxFailures: 5, requiredTests: [name]).evaluate(GateResults(testCases: cases))
        #expect(decision.criteriaMet["required_tests"] == true)
        #expect(decision.passed)
    }

    @Test("a required test that did not run fails the criterion, even with no failures at all")
    func requiredMissing() {
        let decision = GateCriteria(requiredTests: ["tests.test_calc.test_mul"]).evaluate(
            GateResults(testCases: [cases[0]]))
        #expect(!decision.passed)
        #expect(decision.criteriaMet == ["max_failures": true, "required_tests": false])
        #expect(decision.reason.contains("did not run: tests.test_calc.test_mul"))
    }

    @Test("a required test that ran but did not pass fails the criterion", arguments: ["test_sub", "test_skip"])
    func requiredNotPassed(name: String) {
        let decision = GateCriteria(maxFailures: 5, requiredTests: [name]).evaluate(GateResults(testCases: cases))
        #expect(decision.criteriaMet["required_tests"] == false)
        #expect(decision.reason.contains(name))
    }

    @Test("the reason names every failed criterion")
    func reasonNamesAll() {
        let decision = GateCriteria(minCoverage: 90, maxFailures: 0, requiredTests: ["nope"]).evaluate(
            GateResults(testCases: cases, coveragePercent: 50))
        for name in ["max_failures", "min_coverage", "required_tests"] {
            #expect(decision.reason.contains(name))
            #expect(decision.criteriaMet[name] == false)
        }
    }

    @Test("criteria out of range are refused")
    func validation() {
        #expect(throws: SluiceError.self) { try GateCriteria(minCoverage: 101).validated() }
        #expect(throws: SluiceError.self) { try GateCriteria(minCoverage: -1).validated() }
        #expect(throws: SluiceError.self) { try GateCriteria(maxFailures: -1).validated() }
        #expect(throws: SluiceError.self) { try GateCriteria(timeoutSeconds: 0).validated() }
        #expect(throws: SluiceError.self) { try GateCriteria(requiredTests: [""]).validated() }
        #expect(throws: Never.self) { try GateCriteria(minCoverage: 0, maxFailures: 0, timeoutSeconds: 1).validated() }
    }
}

@Suite("Gate events")
struct GateEventTests {
    let start = Timestamp(milliseconds: 0)
    let end = Timestamp(milliseconds: 2_500)

    func running(_ criteria: GateCriteria = GateCriteria()) throws -> TestGateRecord {
        try TestGateRecord(gateID: .make(), name: "unit", gateType: .unitTests, criteria: criteria, at: start)
            .applying(.start(command: "pytest"), at: start)
    }

    @Test("failing tests with a non-zero exit make the gate failed, with the parsed results")
    func failingTests() throws {
        let results = GateResults(testCases: [TestCaseResult(name: "t", status: .failed)])
        let gate = try running().applying(.complete(exitCode: 1, results: results), at: end)
        #expect(gate.state == .failed)
        #expect(gate.results == results)
        #expect(gate.execution.exitCode == 1)
        #expect(gate.execution.durationSeconds == 2.5)
        #expect(gate.execution.command == "pytest")
    }

    @Test("a non-zero exit whose results show no failure is error: the results are not trustworthy")
    func crashedRunner() throws {
        let results = GateResults(testCases: [TestCaseResult(name: "t", status: .passed)])
        let gate = try running().applying(.complete(exitCode: 139, results: results), at: end)
        #expect(gate.state == .error)
    }

    @Test("coverage alone is judged by min_coverage and the exit code, not taken for untrustworthy results")
    func coverageOnly() throws {
        let criteria = GateCriteria(minCoverage: 80)
        let covered = GateResults(coveragePercent: 85)
        let passed = try running(criteria).applying(.complete(exitCode: 0, results: covered), at: end)
        #expect(passed.state == .passed)
        #expect(passed.decision?.criteriaMet == ["max_failures": true, "min_coverage": true, "exit_code": true])
        let low = try running(criteria).applying(
            .complete(exitCode: 0, results: GateResults(coveragePercent: 50)), at: end)
        #expect(low.state == .failed && low.decision?.reason == "failed: min_coverage: 50% < 80%")
        let exit = try running(criteria).applying(.complete(exitCode: 2, results: covered), at: end)
        #expect(exit.state == .failed && exit.decision?.reason == "failed: exit code 2")
        let both = try running(criteria).applying(
            .complete(exitCode: 2, results: GateResults(coveragePercent: 50)), at: end)
        #expect(both.decision?.reason == "failed: exit code 2; min_coverage: 50% < 80%")
        // A required test cannot be shown by coverage: it did not run.
        let required = try running(GateCriteria(requiredTests: ["a"])).applying(
            .complete(exitCode: 0, results: covered), at: end)
        #expect(required.state == .failed && required.decision?.criteriaMet["required_tests"] == false)
    }

    @Test("without results the exit code decides, unless a criterion needs results")
    func exitCodeOnly() throws {
        #expect(try running().applying(.complete(exitCode: 0, results: nil), at: end).state == .passed)
        #expect(try running().applying(.complete(exitCode: 2, results: nil), at: end).state == .failed)
        #expect(
            try running(GateCriteria(requiredTests: ["a"])).applying(.complete(exitCode: 0, results: nil), at: end)
                .state
                == .error)
    }

    @Test("an error event records the reason")
    func errorEvent() throws {
        let gate = try running().applying(.error(message: "timed out after 5 s", exitCode: nil), at: end)
        #expect(gate.state == .error)
        #expect(gate.decision?.reason == "error: timed out after 5 s")
    }

    @Test("skip works from pending and running and needs a reason")
    func skip() throws {
        let pending = TestGateRecord(gateID: .make(), name: "lint", gateType: .lint, at: start)
        #expect(try pending.applying(.skip(reason: "no linter"), at: end).state == .skipped)
        #expect(try running().applying(.skip(reason: "cancelled"), at: end).state == .skipped)
        #expect(throws: SluiceError.self) { try pending.applying(.skip(reason: ""), at: end) }
    }

    @Test("malformed results are refused")
    func badResults() throws {
        #expect(throws: SluiceError.self) {
            try running().applying(.complete(exitCode: 0, results: GateResults(totalTests: -1)), at: end)
        }
        #expect(throws: SluiceError.self) {
            try running().applying(.complete(exitCode: 0, results: GateResults(coveragePercent: 150)), at: end)
        }
    }

    @Test(
        "a misspelt field in given JSON is refused by name, with the fields it could be",
        arguments: [
            (#"{"coverage": 85}"#, "unknown field 'coverage'", "coverage_percent"),
            (
                #"{"test_cases": [{"name": "a", "status": "passed"}, {"name": "b", "state": "passed"}]}"#,
                "at test_cases.1: unknown field 'state'", "status"
            ),
            (#"{"failures": [{"test": "a"}]}"#, "at failures.0: unknown field 'test'", "test_name"),
        ])
    func unknownResultFields(json: String, message: String, known: String) throws {
        let error = #expect(throws: SluiceError.self) {
            try SluiceJSON.decode(GateResults.self, from: Data(json.utf8), what: "--results")
        }
        let text = error?.message ?? ""
        #expect(text.hasPrefix("invalid JSON in --results: " + message), "\(text)")
        #expect(text.contains(known), "\(text)")
    }

    @Test("records written by Sluice read back with every field")
    func knownFieldsRoundTrip() throws {
        let results = GateResults(
            testCases: [TestCaseResult(name: "a", classname: "m", status: .failed, durationSeconds: 0.5)],
            coveragePercent: 91.5, failures: [TestFailure(testName: "m.a", errorMessage: "boom", stackTrace: "at 1")])
        let data = try SluiceJSON.encoder().encode(results)
        #expect(try SluiceJSON.decode(GateResults.self, from: data, what: "results") == results)
        let criteria = GateCriteria(minCoverage: 80, maxFailures: 1, requiredTests: ["a"], timeoutSeconds: 5)
        #expect(
            try SluiceJSON.decode(GateCriteria.self, from: try SluiceJSON.encoder().encode(criteria), what: "criteria")
                == criteria)
        #expect(throws: SluiceError.self) {
            try SluiceJSON.decode(WorkerConfig.self, from: Data(#"{"timeout": 5}"#.utf8), what: "--config")
        }
    }
}
