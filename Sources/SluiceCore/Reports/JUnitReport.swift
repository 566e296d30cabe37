/// Reads JUnit XML as pytest, `swift test --xunit-output`, Maven Surefire, jest-junit and
/// go-junit-report write it: `<testsuites>` or a lone `<testsuite>`, with `<testcase>` elements
/// holding `<failure>`, `<error>` or `<skipped>`.
public enum JUnitReport {
    /// The results the report shows.
    ///
    /// - Throws: ``ReportError`` when the bytes are not JUnit XML (no `testsuite`/`testsuites` root).
    public static func parse(_ bytes: [UInt8]) throws -> GateResults {
        try bytes.withUnsafeBufferPointer { buffer in
            var scanner = XMLScanner(buffer)
            var cases: [TestCaseResult] = []
            var failures: [TestFailure] = []
            var sawRoot = false
            var current: TestCaseResult?
            var failure: TestFailure?
            var capturing = false
            while let token = try scanner.next() {
                switch token {
                case .start(let name, let attributes, let selfClosing):
                    switch name {
                    case "testsuites", "testsuite":
                        sawRoot = true
                    case "testcase":
                        guard sawRoot else { throw ReportError("a <testcase> outside any <testsuite>") }
                        let test = TestCaseResult(
                            name: attributes["name"] ?? "", classname: attributes["classname"] ?? attributes["class"],
                            status: .passed, durationSeconds: attributes["time"].flatMap(Double.init))
                        if selfClosing { cases.append(test) } else { current = test }
                    case "failure", "error":
                        guard var test = current else { continue }
                        // An error outranks a failure when a case has both.
                        if test.status != .error { test.status = name == "error" ? .error : .failed }
                        current = test
                        let entry = TestFailure(
                            testName: test.qualifiedName, errorMessage: attributes["message"] ?? attributes["type"],
                            stackTrace: nil)
                        if selfClosing { failures.append(entry) } else { failure = entry; capturing = true }
                    case "skipped":
                        if var test = current, test.status == .passed {
                            test.status = .skipped
                            current = test
                        }
                    default:
                        break
                    }
                case .end(let name):
                    switch name {
                    case "testcase":
                        if let test = current { cases.append(test) }
                        current = nil
                    case "failure", "error":
                        if var entry = failure {
                            if entry.stackTrace?.isEmpty ?? true { entry.stackTrace = nil }
                            failures.append(entry)
                        }
                        failure = nil
                        capturing = false
                    default:
                        break
                    }
                case .text(let text):
                    if capturing, var entry = failure {
                        entry.stackTrace = (entry.stackTrace ?? "") + text
                        failure = entry
                    }
                }
            }
            guard sawRoot else { throw ReportError("not a JUnit XML report: no <testsuite> or <testsuites> element") }
            return GateResults(testCases: cases, failures: failures)
        }
    }
}

/// Reads TAP (Test Anything Protocol) output: a plan `1..N`, then `ok`/`not ok` lines with
/// `# SKIP` and `# TODO` directives. Planned tests that never reported count as failures.
public enum TAPReport {
    /// - Throws: ``ReportError`` when there is neither a plan nor a test line, or on `Bail out!`
    ///   before any result.
    public static func parse(_ text: String) throws -> GateResults {
        var cases: [TestCaseResult] = []
        var failures: [TestFailure] = []
        var planned: Int?
        var bailedOut = false
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.trimmingPrefixSpaces()
            if line.hasPrefix("1..") {
                planned = Int(line.dropFirst(3).prefix { $0.isNumber })
                continue
            }
            if line.hasPrefix("Bail out!") {
                bailedOut = true
                break
            }
            let passed: Bool
            var rest: Substring
            if line.hasPrefix("not ok") {
                passed = false
                rest = line.dropFirst(6)
            } else if line.hasPrefix("ok") {
                passed = true
                rest = line.dropFirst(2)
            } else {
                continue
            }
            rest = rest.trimmingPrefixSpaces()
            let number = rest.prefix { $0.isNumber }
            rest = rest.dropFirst(number.count).trimmingPrefixSpaces()
            if rest.hasPrefix("-") { rest = rest.dropFirst().trimmingPrefixSpaces() }
            var name = rest
            var directive = ""
            if let hash = rest.firstIndex(of: "#") {
                name = rest[..<hash]
                directive = rest[rest.index(after: hash)...].trimmingPrefixSpaces().uppercased()
            }
            var title = String(name)
            while title.hasSuffix(" ") { title.removeLast() }
            if title.isEmpty { title = "test \(number.isEmpty ? String(cases.count + 1) : String(number))" }
            let status: TestCaseStatus
            if directive.hasPrefix("SKIP") {
                status = .skipped
            } else if directive.hasPrefix("TODO") {
                status = .passed
            } else {
                status = passed ? .passed : .failed
            }
            cases.append(TestCaseResult(name: title, status: status))
            if status == .failed { failures.append(TestFailure(testName: title, errorMessage: "not ok")) }
        }
        if bailedOut && cases.isEmpty { throw ReportError("the TAP stream bailed out before any result") }
        guard planned != nil || !cases.isEmpty else { throw ReportError("not TAP output: no plan and no test line") }
        if let planned, planned > cases.count {
            for number in (cases.count + 1)...planned {
                let title = "test \(number) (planned, never reported)"
                cases.append(TestCaseResult(name: title, status: .error))
                failures.append(TestFailure(testName: title, errorMessage: "missing from the TAP stream"))
            }
        }
        return GateResults(testCases: cases, failures: failures)
    }
}

extension Substring {
    fileprivate func trimmingPrefixSpaces() -> Substring { drop { $0 == " " || $0 == "\t" } }
}
