/// The small project `sluice demo` builds: Python with the standard library only, so that it runs
/// with what a fresh machine has (sh, git, python3).
enum DemoProject {
    static let calc = """
        \"\"\"A tiny calculator that four agents are about to change.\"\"\"


        def add(a, b):
            return a + b


        def sub(a, b):
            return a - b

        """

    static let tests = """
        import unittest

        import calc


        class CalcTests(unittest.TestCase):
            def test_add(self):
                self.assertEqual(calc.add(2, 3), 5)

            def test_sub(self):
                self.assertEqual(calc.sub(5, 3), 2)

        """

    /// Runs the unit tests and writes JUnit XML.
    static let runner = """
        \"\"\"Runs the unit tests and writes a JUnit XML report, with the standard library only.\"\"\"
        import os
        import sys
        import time
        import unittest
        import xml.etree.ElementTree as ET


        class Recorder(unittest.TextTestResult):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.cases = []
                self.started = {}

            def startTest(self, test):
                self.started[test.id()] = time.monotonic()
                super().startTest(test)

            def record(self, test, kind, detail=None):
                elapsed = time.monotonic() - self.started.get(test.id(), time.monotonic())
                self.cases.append((test, kind, detail, elapsed))

            def addSuccess(self, test):
                super().addSuccess(test)
                self.record(test, "passed")

            def addFailure(self, test, err):
                super().addFailure(test, err)
                self.record(test, "failure", self._exc_info_to_string(err, test))

            def addError(self, test, err):
                super().addError(test, err)
                self.record(test, "error", self._exc_info_to_string(err, test))

            def addSkip(self, test, reason):
                super().addSkip(test, reason)
                self.record(test, "skipped", reason)


        def main():
            sys.path.insert(0, os.getcwd())
            suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
            result = unittest.TextTestRunner(resultclass=Recorder, verbosity=1).run(suite)
            root = ET.Element("testsuite", name="calc", tests=str(len(result.cases)))
            for test, kind, detail, elapsed in result.cases:
                classname, _, name = test.id().rpartition(".")
                case = ET.SubElement(root, "testcase", classname=classname, name=name, time=f"{elapsed:.3f}")
                if kind in ("failure", "error"):
                    ET.SubElement(case, kind, message=detail.strip().splitlines()[-1]).text = detail
                elif kind == "skipped":
                    ET.SubElement(case, "skipped", message=detail)
            os.makedirs(".sluice-results", exist_ok=True)
            ET.ElementTree(root).write(".sluice-results/junit.xml", encoding="utf-8", xml_declaration=True)
            return 0 if result.wasSuccessful() else 1


        if __name__ == "__main__":
            sys.exit(main())

        """

    static let config = """
        # The demo's gates: read from main, never from a patch.
        target_branch: main
        gates:
          - name: unit
            type: unit_tests
            command: PYTHONDONTWRITEBYTECODE=1 python3 tests/run_tests.py
            results: .sluice-results/junit.xml
            criteria:
              max_failures: 0
              required_tests: [tests.test_calc.CalcTests.test_add]
              timeout_seconds: 120
        policy:
          protected: [sluice.yml, ".ci/**"]
          tests: ["tests/**"]
          max_apply_attempts: 2
        costs: {compute_rate: 0.0001, currency: USD}

        """

    /// What each agent changes, applied to a copy of the project.
    struct Agent {
        let name: String
        let intent: String
        let files: [String: String]
    }

    static let agents = [
        Agent(
            name: "agent-good", intent: "adds mul() with a test",
            files: [
                "calc.py": calc + "\n\ndef mul(a, b):\n    return a * b\n",
                "tests/test_calc.py": tests.replacingOccurrences(
                    of: "        self.assertEqual(calc.sub(5, 3), 2)\n",
                    with:
                        "        self.assertEqual(calc.sub(5, 3), 2)\n\n    def test_mul(self):\n        self.assertEqual(calc.mul(4, 3), 12)\n"
                ),
            ]),
        Agent(
            name: "agent-breaker", intent: "\"simplifies\" add()",
            files: ["calc.py": calc.replacingOccurrences(of: "return a + b", with: "return a - b")]),
        Agent(
            name: "agent-sneaky", intent: "drops the gate from sluice.yml",
            files: ["sluice.yml": "target_branch: main\ngates: []\n"]),
        Agent(
            name: "agent-late", intent: "adds div() where mul() goes",
            files: ["calc.py": calc + "\n\ndef div(a, b):\n    return a / b\n"]),
    ]
}
