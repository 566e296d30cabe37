import Foundation

/// What a gate's results must show for it to pass. Every field is optional.
public struct GateCriteria: Hashable, Sendable, Codable {
    /// Minimum line coverage, 0–100.
    public var minCoverage: Double?
    /// Most failed tests allowed; when absent, no failure is allowed.
    public var maxFailures: Int?
    /// Tests that must have run and passed, by `classname.name` or `name`.
    public var requiredTests: [String]
    /// Seconds the gate's command may run.
    public var timeoutSeconds: Int?
    /// Rules for custom gates, kept as given.
    public var customRules: [String: JSONValue]

    public init(
        minCoverage: Double? = nil, maxFailures: Int? = nil, requiredTests: [String] = [], timeoutSeconds: Int? = nil,
        customRules: [String: JSONValue] = [:]
    ) {
        self.minCoverage = minCoverage
        self.maxFailures = maxFailures
        self.requiredTests = requiredTests
        self.timeoutSeconds = timeoutSeconds
        self.customRules = customRules
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case minCoverage = "min_coverage"
        case maxFailures = "max_failures"
        case requiredTests = "required_tests"
        case timeoutSeconds = "timeout_seconds"
        case customRules = "custom_rules"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.minCoverage = try container.decodeIfPresent(Double.self, forKey: .minCoverage)
        self.maxFailures = try container.decodeIfPresent(Int.self, forKey: .maxFailures)
        self.requiredTests = try container.decodeIfPresent([String].self, forKey: .requiredTests) ?? []
        self.timeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .timeoutSeconds)
        self.customRules = try container.decodeIfPresent([String: JSONValue].self, forKey: .customRules) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(minCoverage, forKey: .minCoverage)
        try container.encode(maxFailures, forKey: .maxFailures)
        try container.encode(requiredTests, forKey: .requiredTests)
        try container.encode(timeoutSeconds, forKey: .timeoutSeconds)
        try container.encode(customRules, forKey: .customRules)
    }

    /// The longest a gate may run: 7 days. A longer limit would overflow the timers that enforce it.
    public static let maxTimeoutSeconds = 7 * 24 * 3600
    /// The most failures a gate may allow: a billion.
    public static let maxFailuresLimit = 1_000_000_000

    /// Checks the ranges DESIGN.md gives, and upper bounds that keep every number usable.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) naming the criterion.
    public func validated() throws -> GateCriteria {
        if let minCoverage, !(minCoverage.isFinite && (0...100).contains(minCoverage)) {
            throw SluiceError.invalidInput("min_coverage must be between 0 and 100, got \(minCoverage)")
        }
        if let maxFailures, !(0...GateCriteria.maxFailuresLimit).contains(maxFailures) {
            throw SluiceError.invalidInput(
                "max_failures must be from 0 to \(GateCriteria.maxFailuresLimit), got \(maxFailures)")
        }
        if let timeoutSeconds, !(1...GateCriteria.maxTimeoutSeconds).contains(timeoutSeconds) {
            throw SluiceError.invalidInput(
                "timeout_seconds must be from 1 to \(GateCriteria.maxTimeoutSeconds) (7 days), got \(timeoutSeconds)")
        }
        if requiredTests.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw SluiceError.invalidInput("required_tests must not contain an empty name")
        }
        return self
    }

    /// Judges results against these criteria.
    ///
    /// `max_failures` always applies (as 0 when not given), so failing tests never pass a gate by omission.
    ///
    /// - Parameters:
    ///   - mustRun: tests that passed in the last run of this gate on the target branch; one
    ///     absent from `results`, or skipped there, fails the gate (`tests_missing`), whatever did it.
    ///   - excused: quarantined tests: their failures (failed or error) count toward no criterion, and
    ///     the reason names them. Absent or skipped, they count as any other test does.
    public func evaluate(_ results: GateResults, mustRun: [String] = [], excused: [String] = []) -> GateDecision {
        var met: [String: Bool] = [:]
        var problems: [String] = []
        let excusedFailures = results.failedTests(matching: excused)

        let allowed = maxFailures ?? 0
        let failed = results.failureCount(excusing: excused)
        met["max_failures"] = failed <= allowed
        if failed > allowed {
            var text = "max_failures: \(failed) failed, \(allowed) allowed"
            let names = results.failedTestNames.filter { !excusedFailures.contains($0) }
            if !names.isEmpty {
                text += " (" + names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", …" : "") + ")"
            }
            problems.append(text)
        }

        if let minCoverage {
            if let coverage = results.coveragePercent {
                met["min_coverage"] = coverage >= minCoverage
                if coverage < minCoverage {
                    problems.append(
                        "min_coverage: \(GateCriteria.format(coverage))% < \(GateCriteria.format(minCoverage))%")
                }
            } else {
                met["min_coverage"] = false
                problems.append("min_coverage: no coverage was reported")
            }
        }

        if !requiredTests.isEmpty {
            var missing: [String] = []
            var notPassed: [String] = []
            for name in requiredTests {
                let matches = results.testCases.filter { $0.matches(name) }
                if matches.isEmpty {
                    missing.append(name)
                } else if let test = matches.first(where: { test in
                    test.status != .passed && !(test.status != .skipped && excusedFailures.contains(test.qualifiedName))
                }) {
                    let status = test.status.rawValue
                    notPassed.append("\(name) \(status)")
                }
            }
            met["required_tests"] = missing.isEmpty && notPassed.isEmpty
            if !missing.isEmpty { problems.append("required_tests: did not run: " + missing.joined(separator: ", ")) }
            if !notPassed.isEmpty { problems.append("required_tests: " + notPassed.joined(separator: ", ")) }
        }

        if !mustRun.isEmpty {
            // Skipped counts as not run: a skip added to the code under test hides a test as well as deleting it.
            let vanished = mustRun.filter { name in
                !results.testCases.contains { $0.matches(name) && $0.status != .skipped }
            }
            met["tests_missing"] = vanished.isEmpty
            if !vanished.isEmpty {
                problems.append(
                    "tests_missing: \(vanished.count) tests that passed on the target branch did not run or were skipped ("
                        + vanished.prefix(10).joined(separator: ", ") + (vanished.count > 10 ? ", …" : "") + ")")
            }
        }

        let passed = problems.isEmpty
        var reason =
            passed
            ? "passed: \(results.passedTests) of \(results.totalTests) tests passed; all criteria met"
            : "failed: " + problems.joined(separator: "; ")
        if !excusedFailures.isEmpty {
            reason +=
                "; quarantined, not deciding: \(excusedFailures.count) failed ("
                + excusedFailures.prefix(10).joined(separator: ", ") + (excusedFailures.count > 10 ? ", …" : "") + ")"
        }
        return GateDecision(passed: passed, reason: reason, criteriaMet: met)
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value)
    }
}

/// A gate's verdict.
public struct GateDecision: Hashable, Sendable, Codable {
    public var passed: Bool
    /// One sentence; names the failed criteria.
    public var reason: String
    /// Criterion name → whether it was met.
    public var criteriaMet: [String: Bool]

    public init(passed: Bool, reason: String, criteriaMet: [String: Bool]) {
        self.passed = passed
        self.reason = reason
        self.criteriaMet = criteriaMet
    }

    enum CodingKeys: String, CodingKey {
        case passed, reason
        case criteriaMet = "criteria_met"
    }
}
