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

    /// The built-in fake agent: a `command` agent (python3, standard library only) that reads its
    /// prompt and does what the demo's task asks of it, printing its token usage as the `command`
    /// adapter reads it. It never reaches a network or a model.
    static let agent = #"""
        #!/usr/bin/env python3
        """Sluice demo's fake agent: acts on the prompt's [demo:...] tag in the current directory."""
        import json
        import sys
        import time


        def usage(model, tokens_in, tokens_out, cost):
            print(json.dumps({"usage": {"model": model, "input_tokens": tokens_in,
                                        "output_tokens": tokens_out, "cost_usd": cost}}), flush=True)


        def edit(path, old, new):
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace(old, new) if old else text + new)


        prompt = open(sys.argv[1]).read()
        print("reading the task:", prompt.splitlines()[0], flush=True)
        if "[demo:good]" in prompt:
            edit("calc.py", "", "\n\ndef mul(a, b):\n    return a * b\n")
            edit("tests/test_calc.py", "        self.assertEqual(calc.sub(5, 3), 2)\n",
                 "        self.assertEqual(calc.sub(5, 3), 2)\n\n"
                 "    def test_mul(self):\n        self.assertEqual(calc.mul(4, 3), 12)\n")
            usage("demo-model", 1800, 240, 0.0124)
        elif "[demo:breaker]" in prompt:
            edit("calc.py", "return a + b", "return a - b")
            usage("demo-model", 900, 60, 0.0051)
        elif "[demo:sneaky]" in prompt:
            # Games the gate: drops it from sluice.yml so that nothing is tested.
            with open("sluice.yml", "w") as f:
                f.write("target_branch: main\ngates: []\n")
            usage("demo-model", 700, 40, 0.0038)
        elif "[demo:staller]" in prompt:
            usage("demo-model", 300, 10, 0.0012)
            print("thinking...", flush=True)
            time.sleep(600)

        """#

    /// The tasks the demo queues, one per built-in agent's behaviour.
    static let tasks = [
        ("agent-good", "Add mul() with a unit test [demo:good]"),
        ("agent-breaker", "Simplify add() [demo:breaker]"),
        ("agent-sneaky", "Make the tests pass faster [demo:sneaky]"),
        ("agent-staller", "Think hard about division [demo:staller]"),
        ("agent-spender", "Rewrite calc.py in three other languages [demo:good]"),
    ]

    /// The spender's estimate, and the hard budget of its task that cannot cover it.
    static let spenderEstimate = "0.50"
    static let spenderBudget = "0.10"
}
