/// How one test case ended.
public enum TestCaseStatus: String, CaseIterable, Codable, Sendable {
    case passed, failed, skipped, error
}

/// One test case from a report.
public struct TestCaseResult: Hashable, Sendable, Codable {
    public var name: String
    public var classname: String?
    public var status: TestCaseStatus
    public var durationSeconds: Double?

    public init(name: String, classname: String? = nil, status: TestCaseStatus, durationSeconds: Double? = nil) {
        self.name = name
        self.classname = classname
        self.status = status
        self.durationSeconds = durationSeconds
    }

    /// Whether a required test name designates this case: `classname.name` or `name`.
    public func matches(_ required: String) -> Bool {
        if required == name { return true }
        guard let classname, !classname.isEmpty else { return false }
        return required == classname + "." + name
    }

    /// `classname.name`, or `name` alone.
    public var qualifiedName: String {
        guard let classname, !classname.isEmpty else { return name }
        return classname + "." + name
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, classname, status
        case durationSeconds = "duration_seconds"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.classname = try container.decodeIfPresent(String.self, forKey: .classname)
        self.status = try container.decode(TestCaseStatus.self, forKey: .status)
        self.durationSeconds = try container.decodeIfPresent(Double.self, forKey: .durationSeconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(classname, forKey: .classname)
        try container.encode(status, forKey: .status)
        try container.encode(durationSeconds, forKey: .durationSeconds)
    }
}

/// A failed test's detail.
public struct TestFailure: Hashable, Sendable, Codable {
    public var testName: String
    public var errorMessage: String?
    public var stackTrace: String?

    public init(testName: String, errorMessage: String? = nil, stackTrace: String? = nil) {
        self.testName = testName
        self.errorMessage = errorMessage
        self.stackTrace = stackTrace
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case testName = "test_name"
        case errorMessage = "error_message"
        case stackTrace = "stack_trace"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.testName = try container.decode(String.self, forKey: .testName)
        self.errorMessage = try container.decodeIfPresent(String.self, forKey: .errorMessage)
        self.stackTrace = try container.decodeIfPresent(String.self, forKey: .stackTrace)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(testName, forKey: .testName)
        try container.encode(errorMessage, forKey: .errorMessage)
        try container.encode(stackTrace, forKey: .stackTrace)
    }
}

/// What a gate's check reported.
public struct GateResults: Hashable, Sendable, Codable {
    public var totalTests: Int
    public var passedTests: Int
    public var failedTests: Int
    public var skippedTests: Int
    /// Line coverage, 0–100, when reported.
    public var coveragePercent: Double?
    public var failures: [TestFailure]
    /// Each test case, so that required tests can be judged one by one.
    public var testCases: [TestCaseResult]

    public init(
        totalTests: Int = 0, passedTests: Int = 0, failedTests: Int = 0, skippedTests: Int = 0,
        coveragePercent: Double? = nil, failures: [TestFailure] = [], testCases: [TestCaseResult] = []
    ) {
        self.totalTests = totalTests
        self.passedTests = passedTests
        self.failedTests = failedTests
        self.skippedTests = skippedTests
        self.coveragePercent = coveragePercent
        self.failures = failures
        self.testCases = testCases
    }

    /// Results computed from test cases alone.
    public init(testCases: [TestCaseResult], coveragePercent: Double? = nil, failures: [TestFailure] = []) {
        let failed = testCases.filter { $0.status == .failed || $0.status == .error }.count
        let skipped = testCases.filter { $0.status == .skipped }.count
        self.init(
            totalTests: testCases.count, passedTests: testCases.count - failed - skipped, failedTests: failed,
            skippedTests: skipped, coveragePercent: coveragePercent, failures: failures, testCases: testCases)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case totalTests = "total_tests"
        case passedTests = "passed_tests"
        case failedTests = "failed_tests"
        case skippedTests = "skipped_tests"
        case coveragePercent = "coverage_percent"
        case failures
        case testCases = "test_cases"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.refuseUnknownKeys(CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let cases = try container.decodeIfPresent([TestCaseResult].self, forKey: .testCases) ?? []
        let failed = cases.filter { $0.status == .failed || $0.status == .error }.count
        let skipped = cases.filter { $0.status == .skipped }.count
        self.testCases = cases
        self.totalTests = try container.decodeIfPresent(Int.self, forKey: .totalTests) ?? cases.count
        self.failedTests = try container.decodeIfPresent(Int.self, forKey: .failedTests) ?? failed
        self.skippedTests = try container.decodeIfPresent(Int.self, forKey: .skippedTests) ?? skipped
        self.passedTests =
            try container.decodeIfPresent(Int.self, forKey: .passedTests) ?? (cases.count - failed - skipped)
        self.coveragePercent = try container.decodeIfPresent(Double.self, forKey: .coveragePercent)
        self.failures = try container.decodeIfPresent([TestFailure].self, forKey: .failures) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(totalTests, forKey: .totalTests)
        try container.encode(passedTests, forKey: .passedTests)
        try container.encode(failedTests, forKey: .failedTests)
        try container.encode(skippedTests, forKey: .skippedTests)
        try container.encode(coveragePercent, forKey: .coveragePercent)
        try container.encode(failures, forKey: .failures)
        try container.encode(testCases, forKey: .testCases)
    }

    /// Failed tests as counted by the report, or by its cases and failures if they say more.
    public var failureCount: Int {
        max(failedTests, testCases.filter { $0.status == .failed || $0.status == .error }.count, failures.count)
    }

    /// Whether the results say anything about tests (counts, cases or failures), rather than only coverage.
    public var reportsTests: Bool {
        totalTests > 0 || passedTests > 0 || failedTests > 0 || skippedTests > 0 || !testCases.isEmpty
            || !failures.isEmpty
    }

    /// Whether anything in the results shows a failure.
    public var showsFailure: Bool { failureCount > 0 }

    /// Of the failed tests, those a name in `names` matches (`classname.name` or `name`), by qualified name.
    public func failedTests(matching names: [String]) -> [String] {
        guard !names.isEmpty else { return [] }
        let fromCases = testCases.filter { test in
            (test.status == .failed || test.status == .error) && names.contains(where: test.matches)
        }.map(\.qualifiedName)
        let fromFailures = failures.map(\.testName).filter { names.contains($0) && !fromCases.contains($0) }
        return Array(Set(fromCases + fromFailures)).sorted()
    }

    /// Failed tests as ``failureCount`` counts them, less those `excused` names (every case and failure
    /// entry of them): a report's own count loses as many as the excused cases.
    public func failureCount(excusing excused: [String]) -> Int {
        guard !excused.isEmpty else { return failureCount }
        let failing = testCases.filter { $0.status == .failed || $0.status == .error }
        let kept = failing.filter { test in !excused.contains(where: test.matches) }
        let excusedNames = Set(failing.filter { test in excused.contains(where: test.matches) }.map(\.qualifiedName))
        let keptFailures = failures.filter { !excused.contains($0.testName) && !excusedNames.contains($0.testName) }
        let excusedCount = max(failing.count - kept.count, failures.count - keptFailures.count)
        return max(failedTests - excusedCount, kept.count, keptFailures.count, 0)
    }

    /// The names of the failed tests, from the cases or else from the failures.
    public var failedTestNames: [String] {
        let fromCases = testCases.filter { $0.status == .failed || $0.status == .error }.map(\.qualifiedName)
        return fromCases.isEmpty ? failures.map(\.testName) : fromCases
    }

    /// The largest test count taken: a billion.
    public static let maxCount = 1_000_000_000

    /// Checks counts and ranges.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) naming the field.
    public func validated() throws -> GateResults {
        for (name, value) in [
            ("total_tests", totalTests), ("passed_tests", passedTests), ("failed_tests", failedTests),
            ("skipped_tests", skippedTests),
        ] where !(0...GateResults.maxCount).contains(value) {
            throw SluiceError.invalidInput(
                "invalid results: \(name) must be from 0 to \(GateResults.maxCount), got \(value)")
        }
        if let coveragePercent, !(coveragePercent.isFinite && (0...100).contains(coveragePercent)) {
            throw SluiceError.invalidInput("invalid results: coverage_percent must be between 0 and 100")
        }
        let longest = Double(GateCriteria.maxTimeoutSeconds)
        if let bad = testCases.first(where: { !(0...longest).contains($0.durationSeconds ?? 0) }) {
            throw SluiceError.invalidInput(
                "invalid results: test case \(bad.name) has duration_seconds \(bad.durationSeconds ?? 0); "
                    + "it must be from 0 to \(Int(longest))")
        }
        return self
    }
}
