import Foundation
import SluiceCore
import SluiceTesting
import Testing

@Suite("Test and coverage reports")
struct ReportTests {
    func junit(_ text: String) throws -> GateResults { try JUnitReport.parse(Array(text.utf8)) }

    /// Written by `swift test --xunit-output` (Swift 6.3.1, Swift Testing) for a suite with one failing test.
    static let swiftTesting = """
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites>
          <testsuite name="TestResults" errors="0" tests="2" failures="1" skipped="0" time="0.001013571">
            <testcase classname="CalcTests.CalcSwiftTests" name="breaks()" time="0.000548959" >
              <failure message="Expectation failed: (add(2, 2) &#8594; 4) == 5 (error)" />
            </testcase>
            <testcase classname="CalcTests.CalcSwiftTests" name="addsTwo()" time="0.00018125" />
          </testsuite>
        </testsuites>
        """

    @Test("swift test's xunit output")
    func swiftTest() throws {
        let results = try junit(Self.swiftTesting)
        #expect(results.totalTests == 2 && results.failedTests == 1 && results.passedTests == 1)
        #expect(results.failures.first?.errorMessage == "Expectation failed: (add(2, 2) → 4) == 5 (error)")
        #expect(results.testCases.first { $0.matches("CalcTests.CalcSwiftTests.addsTwo()") }?.status == .passed)
    }

    @Test("pytest's junitxml, produced by running pytest")
    func pytest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-pytest-\(UUID())")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("tests"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try """
        import pytest
        def test_add():
            assert 1 + 1 == 2
        def test_sub():
            assert 1 - 1 == 1, "one minus one <is> zero & not one"
        @pytest.mark.skip(reason="later")
        def test_mul():
            pass
        """.write(to: directory.appendingPathComponent("tests/test_calc.py"), atomically: true, encoding: .utf8)
        try "".write(to: directory.appendingPathComponent("tests/__init__.py"), atomically: true, encoding: .utf8)
        let pytest = try await CommandLineProcess.runProgram(
            "/usr/bin/env", ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=report.xml"],
            directory: directory.path)
        #expect(pytest.status == 1, "pytest exits 1 when a test fails: \(pytest.stdout)\(pytest.stderr)")
        let data = try Data(contentsOf: directory.appendingPathComponent("report.xml"))
        let results = try JUnitReport.parse(Array(data))
        #expect(results.totalTests == 3)
        #expect(results.testCases.map(\.status) == [.passed, .failed, .skipped])
        #expect(results.testCases.first?.matches("tests.test_calc.test_add") == true)
        #expect(results.failedTestNames == ["tests.test_calc.test_sub"])
        #expect(results.failures.first?.stackTrace?.contains("one minus one <is> zero & not one") == true)
    }

    @Test("Maven Surefire, jest-junit and go-junit-report shapes")
    func otherTools() throws {
        let surefire = try junit(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.example.CalcTest" time="0.05" tests="3" errors="1" skipped="1" failures="0">
              <properties><property name="java.version" value="17"/></properties>
              <testcase name="adds" classname="com.example.CalcTest" time="0.001"/>
              <testcase name="divides" classname="com.example.CalcTest" time="0.002">
                <error message="/ by zero" type="java.lang.ArithmeticException"><![CDATA[java.lang.ArithmeticException: / by zero
                at com.example.Calc.div(Calc.java:9)]]></error>
                <system-out><![CDATA[dividing]]></system-out>
              </testcase>
              <testcase name="later" classname="com.example.CalcTest" time="0"><skipped/></testcase>
            </testsuite>
            """)
        #expect(surefire.testCases.map(\.status) == [.passed, .error, .skipped])
        #expect(surefire.failures.first?.stackTrace?.contains("Calc.java:9") == true)
        #expect(surefire.failedTests == 1)

        let jest = try junit(
            """
            <testsuites name="jest tests" tests="2" failures="1" errors="0" time="0.5">
              <testsuite name="calc" errors="0" failures="1" skipped="0" timestamp="2026-11-26T07:00:00" time="0.4" tests="2">
                <testcase classname="calc adds" name="calc adds" time="0.002"></testcase>
                <testcase classname="calc subtracts" name="calc subtracts" time="0.003">
                  <failure>Error: expect(received).toBe(expected)</failure>
                </testcase>
              </testsuite>
            </testsuites>
            """)
        #expect(jest.testCases.map(\.status) == [.passed, .failed])

        let go = try junit(
            """
            <testsuites tests="2" failures="1">
            \t<testsuite tests="2" failures="1" time="0.010" name="example.com/calc" timestamp="2026-11-26T07:00:00Z">
            \t\t<properties><property name="go.version" value="go1.22"></property></properties>
            \t\t<testcase classname="calc" name="TestAdd" time="0.000"></testcase>
            \t\t<testcase classname="calc" name="TestSub" time="0.000"><failure message="Failed" type="">calc_test.go:12: got 0</failure></testcase>
            \t</testsuite>
            </testsuites>
            """)
        #expect(go.testCases.first { $0.matches("calc.TestSub") }?.status == .failed)
    }

    @Test(
        "what is not JUnit XML is refused", arguments: ["", "hello", "<html><body/></html>", "<testsuite name=\"x\""])
    func notJUnit(text: String) {
        #expect(throws: ReportError.self) { try junit(text) }
    }

    @Test("TAP: plan, ok, not ok, SKIP and TODO; missing planned tests count")
    func tap() throws {
        let results = try TAPReport.parse(
            """
            TAP version 13
            1..5
            ok 1 - adds
            not ok 2 - subtracts
              ---
              message: 'got 0'
              ...
            ok 3 - multiplies # SKIP no time
            not ok 4 - divides # TODO not written
            """)
        #expect(
            results.testCases.map(\.name) == [
                "adds", "subtracts", "multiplies", "divides", "test 5 (planned, never reported)",
            ])
        #expect(results.testCases.map(\.status) == [.passed, .failed, .skipped, .passed, .error])
        #expect(results.failedTests == 2)
        #expect(throws: ReportError.self) { try TAPReport.parse("no tap here") }
        #expect(throws: ReportError.self) { try TAPReport.parse("Bail out! database down") }
    }

    @Test("Cobertura and lcov coverage")
    func coverage() throws {
        let cobertura = """
            <?xml version="1.0" ?>
            <!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
            <coverage version="7.4" timestamp="1" lines-valid="200" lines-covered="170" line-rate="0.85" branch-rate="0">
              <packages/>
            </coverage>
            """
        #expect(try CoverageReport.percent(Array(cobertura.utf8)) == 85)
        let rateOnly = #"<coverage line-rate="0.5"></coverage>"#
        #expect(try CoverageReport.percent(Array(rateOnly.utf8)) == 50)
        let lcov = "TN:\nSF:src/a.c\nDA:1,1\nLF:10\nLH:9\nend_of_record\nSF:src/b.c\nLF:10\nLH:5\nend_of_record\n"
        #expect(try CoverageReport.percent(Array(lcov.utf8)) == 70)
        #expect(throws: ReportError.self) { try CoverageReport.percent(Array("nothing".utf8)) }
        #expect(throws: ReportError.self) { try CoverageReport.percent(Array("<coverage/>".utf8)) }
    }
}
