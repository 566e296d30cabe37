import SluiceCore
import Testing

@Suite("git's readings of a patch")
struct GitReadingsTests {
    @Test("numstat -z: counts, binary files and paths with spaces and tabs")
    func numstat() throws {
        let bytes = Array("1\t2\ta b.txt\0-\t-\tlogo.png\0".utf8) + Array("0\t0\ttab\there\0".utf8)
        let stats = try GitReadings.numstat(bytes)
        #expect(
            stats == [
                .init(added: 1, removed: 2, path: "a b.txt"), .init(added: nil, removed: nil, path: "logo.png"),
                .init(added: 0, removed: 0, path: "tab\there"),
            ])
        #expect(throws: DiffError.self) { try GitReadings.numstat(Array("garbage\0".utf8)) }
    }

    @Test("raw -z: modes, objects, status and path")
    func raw() throws {
        let zero = String(repeating: "0", count: 40)
        let blob = String(repeating: "a", count: 40)
        let bytes = Array(":000000 120000 \(zero) \(blob) A\0docs/link\0:100644 000000 \(blob) \(zero) D\0old\0".utf8)
        let changes = try GitReadings.rawChanges(bytes)
        #expect(changes.count == 2)
        #expect(changes[0].status == "A" && changes[0].newMode == "120000" && changes[0].path == "docs/link")
        #expect(!changes[1].exists && changes[1].path == "old")
        #expect(throws: DiffError.self) { try GitReadings.rawChanges(Array(":100644 100644 x\0path\0".utf8)) }
    }

    @Test("Sluice's parse and git's reading must agree file by file")
    func disagreements() throws {
        let diff = try DiffParser.parse("--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\n")
        #expect(GitReadings.disagreements(diff, [.init(added: 1, removed: 1, path: "x.txt")]).isEmpty)
        #expect(!GitReadings.disagreements(diff, [.init(added: 1, removed: 1, path: "y.txt")]).isEmpty)
        #expect(!GitReadings.disagreements(diff, [.init(added: 2, removed: 1, path: "x.txt")]).isEmpty)
        #expect(!GitReadings.disagreements(diff, []).isEmpty)
    }

    @Test("a rename writes both paths, a copy only its new one; anything else git changed is undeclared")
    func undeclared() throws {
        let diff = try DiffParser.parse(
            "diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to b\n"
                + "diff --git a/c b/d\nsimilarity index 100%\ncopy from c\ncopy to d\n")
        func change(_ path: String) -> GitReadings.RawChange {
            .init(status: "A", oldMode: "000000", newMode: "100644", oldObject: "0", newObject: "1", path: path)
        }
        #expect(GitReadings.declaredWrites(of: diff) == ["a", "b", "d"])
        #expect(GitReadings.undeclared(diff, ["a", "b", "d"].map(change)).isEmpty)
        #expect(
            GitReadings.undeclared(diff, ["a", "b", "d", "sluice.yml"].map(change)) == [
                "git changed sluice.yml, which the diff does not name"
            ])
        #expect(GitReadings.undeclared(diff, ["a", "b"].map(change)) == ["the diff names d, which git left unchanged"])
    }
}

@Suite("Link resolution on a tree")
struct LinkResolverTests {
    @Test(
        "links resolve component by component, through the tree's other links",
        arguments: [
            (["x": "docs/readme"], "x", "docs/readme"),
            (["docs/up": ".."], "docs/up", ""),
            (["a/up": "..", "a/b": "up/docs"], "a/b", "docs"),
            (["lib/up": "..", "lib/readme": "up/docs/link", "docs/link": "../README.md"], "lib/readme", "README.md"),
        ])
    func inside(links: [String: String], link: String, resolved: String) {
        #expect(LinkResolver(links: links).resolve(link: link) == .success(resolved))
    }

    @Test(
        "links that leave the repository, reach .git or .sluice, or never end are refused",
        arguments: [
            ["evil": "/etc/passwd"], ["evil": "../x"], ["evil": "docs/../../x"],
            ["a/b/c/d/e/f/up": "../../../../..", "evil": "a/b/c/d/e/f/up/../../../../../../etc"],
            ["evil": ".git/config"], ["evil": ".GIT"], ["evil": "sub/.Git/hooks"], ["evil": ".sluice/sluice.db"],
            ["evil": ".SLUICE"], ["evil": "loop", "loop": "evil"], ["evil": "../..\nx"],
        ])
    func refused(links: [String: String]) {
        #expect(throws: LinkResolver.Refusal.self) { try LinkResolver(links: links).resolve(link: "evil").get() }
    }
}

@Suite("Vanished tests")
struct VanishedTestsTests {
    @Test("a test that passed on the branch and is now absent or skipped fails the gate")
    func vanished() {
        func results(_ statuses: [(String, TestCaseStatus)]) -> GateResults {
            var results = GateResults()
            results.testCases = statuses.map { TestCaseResult(name: $0.0, classname: "t", status: $0.1) }
            results.totalTests = statuses.count
            results.passedTests = statuses.filter { $0.1 == .passed }.count
            results.skippedTests = statuses.filter { $0.1 == .skipped }.count
            return results
        }
        let criteria = GateCriteria()
        let all = results([("one", .passed), ("two", .passed)])
        #expect(criteria.evaluate(all, mustRun: ["t.one", "t.two"]).passed)
        let absent = criteria.evaluate(results([("one", .passed)]), mustRun: ["t.one", "t.two"])
        #expect(!absent.passed && absent.reason.contains("tests_missing") && absent.reason.contains("t.two"))
        let skipped = criteria.evaluate(results([("one", .passed), ("two", .skipped)]), mustRun: ["t.one", "t.two"])
        #expect(!skipped.passed && skipped.criteriaMet["tests_missing"] == false)
    }
}

@Suite("Review rules")
struct ReviewRulesTests {
    func rules(_ command: String, exempt: Set<String> = []) -> [ReviewRule] {
        var config = SluiceConfig(targetBranch: "main", gates: [GateConfig(name: "g", type: .custom, command: command)])
        config.policy.reviewExempt = exempt
        return ReviewRules.rules(for: config)
    }

    func needsReview(_ path: String, _ rules: [ReviewRule]) -> Bool {
        !PolicyCheck.reviewIssues(paths: [path], gitlinks: [], rules: rules).isEmpty
    }

    @Test("a gate's command names its script and its config files")
    func commandFiles() {
        let rules = rules("sh ./ci/check.sh && pytest -c tests/pytest.cfg --junitxml=out/junit.xml; make -f build.mk")
        for path in ["ci/check.sh", "tests/pytest.cfg", "out/junit.xml", "build.mk", "conftest.py", "a/conftest.py"] {
            #expect(needsReview(path, rules), "\(path)")
        }
        #expect(!needsReview("src/app.py", rules))
        #expect(!needsReview("Package.swift", rules))
    }

    @Test(
        "each runner's configuration is reviewed",
        arguments: [
            ("python3 -m pytest -q", "pyproject.toml"), ("npm test", "package.json"), ("npx jest", "jest.config.js"),
            ("yarn vitest", "web/vitest.config.ts"), ("swift test", "Package.swift"), ("cargo test", "build.rs"),
            ("go test ./...", "go.mod"), ("make check", "Makefile"), ("tox -e py", "tox.ini"),
            // A module in the working directory shadows the runner, or registers a plugin.
            ("python3 -m pytest -q", "pytest.py"), ("python3 -m pytest", "_pytest/__init__.py"),
            ("python3 -m pytest", "pytest/__init__.py"),
            ("python3 -m pytest", "helpers-1.0.dist-info/entry_points.txt"),
            ("python3 -m unittest", "unittest.py"), ("python3 run_tests.py", "sitecustomize.py"),
            // pytest reads its configuration from beside its arguments first, and pytest.toml since 9.
            ("python3 -m pytest", "pytest.toml"), ("python3 -m pytest", "tests/pyproject.toml"),
            ("pytest tests", "tests/setup.cfg"), ("npm test", "node_modules/.bin/node"),
            // Every way of naming the gate's script names it.
            ("cd ci && sh check.sh", "ci/check.sh"), ("sh tests//b.sh", "tests/b.sh"),
            ("sh tests/../tests/d.sh", "tests/d.sh"), ("sh $PWD/tests/c.sh", "tests/c.sh"),
            ("sh -c 'sh tests/g.sh'", "tests/g.sh"), ("sh tests/[j].sh", "tests/j.sh"),
            ("cd app && python3 -m pytest", "app/pyproject.toml"),
            // A module of the standard library, shadowed from an import root; files the runner reads
            // where the command moved to.
            ("python3 -m pytest", "shlex.py"), ("python3 -m pytest", "_pytest.py"),
            ("python3 -m pytest", "json/__init__.py"), ("python3 -m unittest discover", "argparse.py"),
            ("cd crate && python3 -m pytest", "crate/pytest.py"),
            ("cd py && python3 -m pytest", "py/helpers-1.0.dist-info/entry_points.txt"),
            ("cd crate && cargo test", "crate/rust-toolchain.toml"),
            ("cd crate && cargo test", "crate/.cargo/config.toml"),
            ("python3 -m pytest", "__pycache__/calc.cpython-311.pyc"),
        ])
    func runners(command: String, path: String) {
        #expect(needsReview(path, rules(command)))
    }

    @Test("what sluice.yml's env names for a gate is reviewed too; a project's test/ folder is not")
    func environment() {
        var gate = GateConfig(name: "g", type: .custom, command: "python3 -m pytest $ARGS")
        gate.environment = ["SCRIPT": "tests/x.sh", "PYTHONPATH": "lib", "PYTEST_PLUGINS": "myplugin"]
        let rules = ReviewRules.rules(for: SluiceConfig(targetBranch: "main", gates: [gate]))
        for path in ["tests/x.sh", "lib/sitecustomize.py", "lib/pytest.py", "myplugin.py"] {
            #expect(needsReview(path, rules), "\(path)")
        }
        #expect(!needsReview("test/test_calc.py", rules))
        #expect(!needsReview("calc.py", rules))
    }

    @Test("the modules that would shadow Python's own are one entry, exempted by one name")
    func pythonModules() {
        let gates = [GateConfig(name: "g", type: .custom, command: "python3 -m pytest")]
        let names = ReviewRules.builtInNames(gates: gates)
        #expect(names.contains(ReviewRule.pythonModules) && names.count < 80, "\(names.count)")
        #expect(needsReview("shlex.py", rules("python3 -m pytest")))
        #expect(!needsReview("shlex.py", rules("python3 -m pytest", exempt: [ReviewRule.pythonModules])))
    }

    @Test("git's own files and gitlinks are always reviewed, unless exempted by name")
    func builtIns() {
        let rules = rules("true")
        #expect(needsReview(".gitattributes", rules) && needsReview("sub/.gitattributes", rules))
        #expect(needsReview(".gitmodules", rules))
        #expect(!PolicyCheck.reviewIssues(paths: [], gitlinks: ["vendor/x"], rules: rules).isEmpty)
        let exempt = self.rules("true", exempt: [".gitattributes", "gitlinks"])
        #expect(!needsReview(".gitattributes", exempt))
        #expect(PolicyCheck.reviewIssues(paths: [], gitlinks: ["vendor/x"], rules: exempt).isEmpty)
    }
}

@Suite("The files a gate's command runs")
struct GateCommandFilesTests {
    @Test(
        "scripts and configuration files are found, the files a program works on are not",
        arguments: [
            ("python3 -m py_compile calc.py", [String]()), ("pytest tests/test_calc.py", []),
            ("sh tests/check.sh", ["tests/check.sh"]), ("./run-tests --fast", ["run-tests"]),
            ("CI=1 bash ci/test.sh calc.py", ["ci/test.sh"]), (". tests/lib.sh; grep -q ok x.txt", ["tests/lib.sh"]),
            ("sh < tests/f.sh", ["tests/f.sh"]), ("env -i sh t\"ests\"/i.sh", ["tests/i.sh"]),
            ("cd app && python3 -m pytest -c ../ci/pytest.ini", ["ci/pytest.ini"]),
            ("python3 -c 'import calc' && node scripts/t.js", ["scripts/t.js"]),
            ("sh -c 'cd ci && sh check.sh'", ["ci/check.sh"]),
            // Found by the second attack: option forms that hid the script.
            ("sh -ec 'sh ci/x.sh'", ["ci/x.sh"]), ("bash -o pipefail ci/x.sh", ["ci/x.sh"]),
            ("python3 -m cProfile -o /dev/null ci/run.py", ["ci/run.py"]), ("python3 -X dev run.py", ["run.py"]),
            ("python3 -m pytest -p tests.myplugin", ["tests/myplugin.py", "tests/myplugin/**"]),
            ("make -C ci -f rules", ["ci/rules"]), ("python3 ci", ["ci", "ci/**"]),
            ("coverage run ci/run.py", ["ci/run.py"]),
        ])
    func files(command: String, expected: [String]) {
        let rules = ReviewRules.rules(
            for: SluiceConfig(targetBranch: "main", gates: [GateConfig(name: "g", type: .custom, command: command)]))
        let named = rules.filter { $0.why.hasPrefix("gate g runs or reads it") }.map(\.name)
        #expect(named == expected)
    }
}
