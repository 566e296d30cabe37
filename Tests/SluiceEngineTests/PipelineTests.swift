import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

/// The landing pipeline on real git repositories with real gate processes.
@Suite("Landing pipeline")
struct PipelineTests {
    static let check = """
        #!/bin/sh
        mkdir -p .sluice-results
        add=passed
        grep -q "return a + b" calc.py || add=failed
        {
          echo '<testsuite name="calc">'
          if [ $add = passed ]; then
            echo '<testcase classname="tests.test_calc" name="test_add"/>'
          else
            echo '<testcase classname="tests.test_calc" name="test_add"><failure message="add is broken"/></testcase>'
          fi
          echo '<testcase classname="tests.test_calc" name="test_sub"/>'
          echo '</testsuite>'
        } > .sluice-results/junit.xml
        [ $add = passed ]
        """

    static func config(extraGate: String = "") -> String {
        """
        target_branch: main
        gates:
          - name: unit
            type: unit_tests
            command: sh tests/check.sh
            results: .sluice-results/junit.xml
            criteria: {max_failures: 0, required_tests: [tests.test_calc.test_add], timeout_seconds: 30}
        \(extraGate)
        policy:
          tests: ["tests/**"]
          max_apply_attempts: 3
        logs: {grace_seconds: 1}
        """
    }

    struct Fixture {
        let repository: TemporaryGitRepository
        /// Where the workspace and the gates' cache live: outside the repository, like the default.
        let scratch = TemporaryDirectory(prefix: "sluice-scratch")
        let pipeline: Pipeline
        var engine: Engine { pipeline.engine }

        init(config: String = PipelineTests.config(), files: [String: String] = [:], storage: (any Storage)? = nil)
            throws
        {
            var all = [
                "calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
                "tests/check.sh": PipelineTests.check, "tests/test_calc.py": "# the tests\n", "sluice.yml": config,
                "README.md": "calc\n",
            ]
            for (path, content) in files { all[path] = content }
            repository = try TemporaryGitRepository(files: all)
            let storage =
                try storage ?? SQLiteStorage(path: repository.directory.file(".sluice/sluice.db").creatingParent())
            pipeline = Pipeline(
                engine: Engine(EngineContext(storage: storage, actor: "test")), repository: repository.path,
                scratchDirectory: scratch.path)
            try pipeline.prepare()
        }

        func submit(_ diff: String, hold: Bool = false) async throws -> PatchLedgerEntry {
            try await pipeline.submit(Array(diff.utf8), .init(project: "calc", workstream: "agent", hold: hold))
        }

        func run() async throws -> PipelineSummary {
            try await pipeline.run { _ in }
        }

        func head() throws -> String { try repository.git("rev-parse", "refs/heads/main") }
    }

    func goodDiff(_ fixture: Fixture) throws -> String {
        try fixture.repository.diff {
            try $0.write(
                "calc.py",
                "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
            )
        }
    }

    @Test("a good patch lands, and the landed commit's tree is the tree the gates ran on")
    func goodPatchLands() async throws {
        let fixture = try Fixture()
        let before = try fixture.head()
        let diff = try goodDiff(fixture)
        let entry = try await fixture.submit(diff)
        #expect(entry.state == .queued)
        let summary = try await fixture.run()
        #expect(summary.landed == [entry.ledgerID.description])
        let landed = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(landed.state == .committed)
        let source = try await #require(try fixture.engine.context.storage.patchSource(entry.ledgerID))
        let head = try fixture.head()
        #expect(head == source.landedCommit && head == source.testedCommit && source.baseCommit == before)
        #expect(try fixture.repository.git("rev-parse", "\(head)^") == before)
        #expect(try fixture.repository.git("show", "\(head):calc.py").contains("def mul"))
        let message = try fixture.repository.git("log", "-1", "--format=%B", head)
        #expect(
            message.contains("Sluice-Ledger-Id: \(entry.ledgerID)")
                && message.contains("Sluice-Gate: unit passed (2/2 tests passed)"))
        // The checked-out main moved with it, and no workspace is left.
        #expect(try fixture.repository.read("calc.py").contains("def mul"))
        #expect(
            (try? FileManager.default.contentsOfDirectory(atPath: fixture.pipeline.scratchDirectory + "/workspaces"))?
                .isEmpty ?? true)
        #expect(!FileManager.default.fileExists(atPath: fixture.pipeline.sluiceDirectory + "/workspaces"))
        let gates = try await fixture.engine.gates.list()
        #expect(
            gates.count == 1 && gates[0].state == .passed
                && gates[0].metadata["ledger_id"] == .string(entry.ledgerID.description))
        await #expect(try fixture.engine.costs.list(CostFilter(resourceType: .computeTime)).count == 1)
        await #expect(try fixture.engine.context.storage.patchSource(entry.ledgerID)?.bytes == Array(diff.utf8))
    }

    @Test("two patches editing the same lines: the first lands, the second conflicts and ends quarantined")
    func conflictingPatches() async throws {
        let fixture = try Fixture()
        let first = try await fixture.submit(
            try fixture.repository.diff { try $0.write("README.md", "calc, by agent one\n") })
        let second = try await fixture.submit(
            try fixture.repository.diff { try $0.write("README.md", "calc, by agent two\n") })
        #expect(second.state == .queued)
        let summary = try await fixture.run()
        #expect(summary.landed == [first.ledgerID.description])
        let loser = try await fixture.engine.patches.get(second.ledgerID)
        #expect(loser.state == .quarantined)
        // One attempt on the head the first patch made; nothing queued could move it again.
        #expect(loser.apply.attempts == 1)
        #expect(loser.apply.lastErrorCode == "conflict")
        #expect(loser.quarantine.quarantineReason?.contains("no patch ahead of it could change that") == true)
        #expect(try fixture.repository.read("README.md") == "calc, by agent one\n")
        #expect(try !fixture.repository.git("log", "--format=%B", "main").contains(second.ledgerID.description))
        let path = try #require(loser.quarantine.quarantinePath)
        #expect(FileManager.default.fileExists(atPath: path + "/patch.diff"))
        #expect(try String(contentsOfFile: path + "/reason.txt", encoding: .utf8).contains("does not apply"))
    }

    @Test("a patch that breaks a test is quarantined with the failing test named, and main never holds it")
    func failingGate() async throws {
        let fixture = try Fixture()
        let before = try fixture.head()
        let entry = try await fixture.submit(
            try fixture.repository.diff {
                try $0.write("calc.py", "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n")
            })
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined)
        #expect(
            result.stateHistory.map(\.state) == [.created, .validated, .queued, .applied, .applyFailed, .quarantined])
        #expect(result.quarantine.quarantineReason?.contains("tests.test_calc.test_add") == true)
        #expect(try fixture.head() == before)
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.state == .failed && gate.results?.failedTests == 1)
        #expect(FileManager.default.fileExists(atPath: (result.quarantine.quarantinePath ?? "") + "/unit.log"))
    }

    @Test("a required test that did not run fails the gate, even when every test that ran passed")
    func missingRequiredTest() async throws {
        let config = PipelineTests.config().replacingOccurrences(
            of: "required_tests: [tests.test_calc.test_add]", with: "required_tests: [tests.test_calc.test_mul]")
        let fixture = try Fixture(config: config)
        let entry = try await fixture.submit(try goodDiff(fixture))
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined)
        #expect(result.quarantine.quarantineReason?.contains("did not run: tests.test_calc.test_mul") == true)
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.state == .failed && gate.results?.failedTests == 0)
    }

    @Test(
        "validation refuses what the policy forbids, each with its code, and quarantines it",
        arguments: [
            // git reads `/etc/passwd` in a plain diff as `etc/passwd`: Sluice refuses what it reads differently.
            ("../x", "path_traversal"), ("/etc/passwd", "diff_ambiguous"), (".git/config", "path_git_dir"),
            ("sluice.yml", "protected_path"), ("link/secret", "symlink_outside"),
        ])
    func validationRules(path: String, code: String) async throws {
        let fixture = try Fixture()
        try FileManager.default.createSymbolicLink(
            atPath: fixture.repository.path + "/link", withDestinationPath: "/tmp")
        try fixture.repository.git("add", "link")
        try fixture.repository.git("commit", "--quiet", "-m", "a link")
        let diff = "--- a/\(path)\n+++ b/\(path)\n@@ -1 +1 @@\n-x\n+y\n".replacingOccurrences(of: "a//", with: "/")
            .replacingOccurrences(of: "b//", with: "/")
        let entry = try await fixture.submit(diff)
        #expect(entry.state == .quarantined)
        #expect(
            entry.validation.validationErrors.contains { $0.hasPrefix(code + ": ") },
            "\(entry.validation.validationErrors)")
        #expect(entry.quarantine.quarantineReason?.contains(code) == true)
    }

    @Test("binary files, deleted tests and malformed hunks are refused too")
    func moreValidationRules() async throws {
        let fixture = try Fixture()
        let binary = try fixture.repository.diff { repository in
            try Data([0, 1, 2, 3, 255]).write(to: URL(fileURLWithPath: repository.path + "/logo.png"))
        }
        #expect(try await fixture.submit(binary).validation.validationErrors.contains { $0.hasPrefix("binary_file") })
        let deletion = try fixture.repository.diff {
            try FileManager.default.removeItem(atPath: $0.path + "/tests/test_calc.py")
        }
        #expect(
            try await fixture.submit(deletion).validation.validationErrors.contains { $0.hasPrefix("test_deleted") })
        let malformed = "--- a/calc.py\n+++ b/calc.py\n@@ -1,3 +1,3 @@\n-def add(a, b):\n+def plus(a, b):\n"
        let entry = try await fixture.submit(malformed)
        #expect(entry.state == .quarantined && !entry.validation.formatOK)
        #expect(entry.validation.validationErrors.contains { $0.hasPrefix("diff_malformed") })
    }

    @Test(
        "a patch that does not apply to the head yet is queued; the run quarantines it once nothing could change that")
    func notApplyingYet() async throws {
        let fixture = try Fixture()
        let stale = "--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-def nothing_like_this():\n+def x():\n"
        let entry = try await fixture.submit(stale)
        #expect(entry.state == .queued)
        #expect(entry.stateHistory.contains { $0.reason?.contains("does not apply to main") == true })
        let summary = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined && result.apply.attempts == 1)
        #expect(summary.quarantined.count == 1)
        #expect(result.quarantine.quarantineReason?.contains("no patch ahead of it could change that") == true)
    }

    @Test("a patch cannot change its own gate: the configuration is read from the target branch")
    func configFromTarget() async throws {
        let fixture = try Fixture()
        // The working tree's sluice.yml (uncommitted) has no gates; the branch's does.
        try fixture.repository.write("sluice.yml", "target_branch: main\n")
        let entry = try await fixture.submit(
            try fixture.repository.diff { try $0.write("calc.py", "def add(a, b):\n    return 0\n") })
        try fixture.repository.git("checkout", "--", "sluice.yml")
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .quarantined)
    }

    @Test("a gate added to sluice.yml by hand after a landing governs the next run of the same pipeline")
    func committedConfigGovernsNext() async throws {
        let fixture = try Fixture()
        let first = try await fixture.submit(try goodDiff(fixture))
        #expect(try await fixture.run().landed == [first.ledgerID.description])
        // The pipeline read sluice.yml at the commit it landed; a person then commits a stricter one.
        let stricter = PipelineTests.config(extraGate: "  - {name: never, type: custom, command: 'false'}")
        try fixture.repository.commit(["sluice.yml": stricter], message: "a gate that never passes")
        let next = try await fixture.submit(
            try fixture.repository.diff { try $0.write("README.md", "calc, with mul\n") })
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(next.ledgerID)
        #expect(result.state == .quarantined)
        #expect(result.quarantine.quarantineReason?.contains("gate never failed") == true)
    }

    @Test("the configuration read at a commit is carried to a landing on it only when the patch left sluice.yml alone")
    func configurationMemo() {
        let memo = ConfigurationMemo()
        memo.remember("gates: []", at: "base")
        memo.carry(from: "base", to: "landed", changing: ["calc.py", "sluice.yml"])
        #expect(memo.text(at: "landed") == nil)
        memo.carry(from: "base", to: "landed", changing: ["calc.py"])
        #expect(memo.text(at: "landed") == "gates: []")
        #expect(memo.text(at: "base") == nil)
        // Only from the commit it knows: a landing on another commit carries nothing.
        memo.carry(from: "elsewhere", to: "other", changing: [])
        #expect(memo.text(at: "other") == nil)
    }

    @Test("a gate past its timeout ends in error and the patch is quarantined")
    func gateTimeout() async throws {
        let config = PipelineTests.config(
            extraGate: "  - {name: slow, type: custom, command: 'sleep 30 & sleep 30', criteria: {timeout_seconds: 1}}")
        let fixture = try Fixture(config: config)
        let entry = try await fixture.submit(try goodDiff(fixture))
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .quarantined)
        let slow = try await #require(try fixture.engine.gates.list().first { $0.name == "slow" })
        #expect(slow.state == .error && slow.decision?.reason.contains("timed out") == true)
    }

    @Test("a dirty checked-out target branch stops the landing and loses nothing")
    func dirtyCheckout() async throws {
        let fixture = try Fixture()
        let before = try fixture.head()
        let entry = try await fixture.submit(try goodDiff(fixture))
        try fixture.repository.write("README.md", "work in progress\n")
        await #expect {
            try await fixture.run()
        } throws: { error in
            (error as? SluiceError)?.message.contains("uncommitted changes") == true
        }
        #expect(try fixture.repository.read("README.md") == "work in progress\n")
        #expect(try fixture.head() == before)
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .verified)
        // Once the tree is clean, the next run lands the verified patch.
        try fixture.repository.git("checkout", "--", "README.md")
        let summary = try await fixture.run()
        #expect(summary.landed == [entry.ledgerID.description])
        #expect(try fixture.repository.read("calc.py").contains("def mul"))
    }

    @Test("a patch whose submission stopped before validation is validated and landed by the next run")
    func interruptedSubmission() async throws {
        let fixture = try Fixture()
        // Submitted a minute ago by a process that died before validating it.
        let earlier = Engine(
            EngineContext(
                storage: fixture.engine.context.storage,
                clock: FakeClock(start: SystemClock().now().adding(milliseconds: -60_000)), actor: "agent"))
        let entry = try await earlier.patches.create(
            project: "calc", source: PatchSource(bytes: Array(try goodDiff(fixture).utf8)))
        #expect(entry.state == .created)
        let summary = try await fixture.run()
        #expect(summary.landed == [entry.ledgerID.description])
    }

    @Test("queued patches land by priority, then oldest first; a promoted patch goes ahead of older ones")
    func priorityOrder() async throws {
        let fixture = try Fixture()
        func submit(_ file: String, _ priority: PatchPriority) async throws -> PatchLedgerEntry {
            let diff = try fixture.repository.diff { try $0.write(file, "\(file)\n") }
            return try await fixture.pipeline.submit(
                Array(diff.utf8), .init(project: "calc", message: file, priority: priority))
        }
        let normal = try await submit("a.txt", .normal)
        let low = try await submit("b.txt", .low)
        let urgent = try await submit("c.txt", .urgent)
        let promoted = try await submit("d.txt", .normal)
        let (_, before) = try await fixture.engine.patches.prioritize(promoted.ledgerID, .high, by: "alice")
        #expect(before == .normal)
        let summary = try await fixture.run()
        let order = [urgent, promoted, normal, low].map(\.ledgerID.description)
        #expect(summary.landed == order)
        #expect(try fixture.repository.git("log", "--format=%s", "-4", "main") == "b.txt\na.txt\nd.txt\nc.txt")
        let events = try await fixture.engine.context.storage.events(
            entityID: promoted.ledgerID.description, after: 0, limit: nil)
        let change = try #require(events.first { $0.payload["operation"] == .string("prioritize") })
        #expect(change.actor == "alice" && change.payload["from"] == .string("normal"))
        #expect(change.payload["to"] == .string("high"))
    }

    @Test(
        "a patch that needs one submitted after it waits behind the rest, whatever their priorities, and lands",
        arguments: [(PatchPriority.normal, PatchPriority.normal), (.urgent, .low)])
    func dependentWaits(needing: PatchPriority, needed: PatchPriority) async throws {
        let fixture = try Fixture()
        // Y changes a line X adds: made on X, submitted before it, with unrelated patches between.
        let x = try fixture.repository.diff { try $0.write("README.md", "calc\nX\n") }
        try fixture.repository.commit(["README.md": "calc\nX\n"], message: "X, for a moment")
        let y = try fixture.repository.diff { try $0.write("README.md", "calc\nX, changed by Y\n") }
        _ = try fixture.repository.git("reset", "--quiet", "--hard", "HEAD~1")
        func submit(_ diff: String, _ priority: PatchPriority = .normal) async throws -> PatchLedgerEntry {
            try await fixture.pipeline.submit(Array(diff.utf8), .init(project: "calc", priority: priority))
        }
        let dependent = try await submit(y, needing)
        for name in ["a", "b", "c", "d"] {
            _ = try await submit(try fixture.repository.diff { try $0.write("\(name).txt", "\(name)\n") })
        }
        let needs = try await submit(x, needed)
        let summary = try await fixture.run()
        #expect(summary.landed.count == 6 && summary.quarantined.isEmpty, "\(summary.quarantined)")
        let landed = try await fixture.engine.patches.get(dependent.ledgerID)
        #expect(landed.state == .committed && landed.apply.attempts <= 2, "\(landed.apply)")
        #expect(
            summary.landed.firstIndex(of: needs.ledgerID.description)! < summary.landed.firstIndex(
                of: dependent.ledgerID.description)!)
        #expect(try fixture.repository.read("README.md") == "calc\nX, changed by Y\n")
    }

    @Test("a patch a killed run had applied keeps its place in the queue when the next run recovers it")
    func recoveredKeepsPlace() async throws {
        let fixture = try Fixture()
        let first = try await fixture.submit(try fixture.repository.diff { try $0.write("a.txt", "a\n") })
        let second = try await fixture.submit(try fixture.repository.diff { try $0.write("b.txt", "b\n") })
        // The killed run had applied the first; the recovery sends it back to the queue, last updated.
        _ = try await fixture.engine.patches.applied(first.ledgerID, workspace: "/nowhere", files: ["a.txt"])
        let summary = try await fixture.run()
        #expect(summary.landed == [first.ledgerID.description, second.ledgerID.description])
    }

    @Test("a priority changes only on a patch still to land; the same priority again writes nothing")
    func prioritizeRefusals() async throws {
        let fixture = try Fixture()
        let entry = try await fixture.submit(try goodDiff(fixture))
        let events = { try await fixture.engine.context.storage.events(entityID: nil, after: 0, limit: nil).count }
        let (_, before) = try await fixture.engine.patches.prioritize(entry.ledgerID, .normal)
        #expect(before == .normal)
        let count = try await events()
        for name in ["a\nb", "alice\u{202E}ecila"] {
            await #expect {
                try await fixture.engine.patches.prioritize(entry.ledgerID, .urgent, by: name)
            } throws: { ($0 as? SluiceError)?.code == .invalidInput }
        }
        #expect(try await events() == count)
        // Named by its patch id, as every patch verb allows.
        let (_, normal) = try await fixture.engine.patches.prioritize(LedgerID(entry.patchID.ulid), .high)
        #expect(normal == .normal)
        #expect(try await events() == count + 1)
        _ = try await fixture.run()
        await #expect {
            try await fixture.engine.patches.prioritize(entry.ledgerID, .urgent)
        } throws: { ($0 as? SluiceError)?.code == .invalidTransition }
        await #expect(try fixture.engine.context.storage.patchSource(entry.ledgerID)?.priority == .high)
        let bare = try await fixture.engine.patches.create(project: "calc")
        await #expect {
            try await fixture.engine.patches.prioritize(bare.ledgerID, .urgent)
        } throws: { ($0 as? SluiceError)?.code == .notFound }
        await #expect {
            try await fixture.engine.patches.prioritize(.make(), .urgent)
        } throws: { ($0 as? SluiceError)?.code == .notFound }
    }

    @Test("with watch, a run keeps waiting and lands patches submitted after it started")
    func watch() async throws {
        let fixture = try Fixture()
        let pipeline = fixture.pipeline
        let returned = Mutex(false)
        let run = Task {
            defer { returned.withLock { $0 = true } }
            return try await pipeline.run(watch: true) { _ in }
        }
        try await Task.sleep(for: .milliseconds(300))
        let entry = try await fixture.submit(try goodDiff(fixture))
        var state = PatchState.queued
        for _ in 0..<300 where state != .committed {
            try await Task.sleep(for: .milliseconds(100))
            state = try await fixture.engine.patches.get(entry.ledgerID).state
        }
        // A watching run is still waiting when its patch has landed.
        let returnedEarly = returned.withLock { $0 }
        run.cancel()
        do {
            _ = try await run.value
        } catch is CancellationError {
        } catch {
            Issue.record("the watching run failed: \(error)")
        }
        #expect(!returnedEarly)
        #expect(state == .committed)
        // The cancelled run released its lock and removed its workspace.
        #expect(try await fixture.run().landed.isEmpty)
    }

    @Test("revert makes the reverse patch, gated like any other, pointing at the original")
    func revert() async throws {
        let fixture = try Fixture()
        let before = try fixture.head()
        let entry = try await fixture.submit(try goodDiff(fixture))
        _ = try await fixture.run()
        let revert = try await fixture.pipeline.revert(entry.ledgerID)
        #expect(revert.relations.rollbackOfPatchID == entry.patchID && revert.state == .queued)
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(revert.ledgerID).state == .committed)
        #expect(
            try fixture.repository.git("rev-parse", "main^{tree}")
                == (try fixture.repository.git("rev-parse", "\(before)^{tree}")))
    }
}

extension String {
    /// Creates the parent folder of this path and returns the path.
    func creatingParent() throws -> String {
        try FileManager.default.createDirectory(
            atPath: (self as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return self
    }
}

@Suite("Landing pipeline: reports")
struct PipelineReportTests {
    /// A gate that writes TAP and lcov coverage; the coverage it reports is in the repository's `coverage.txt`.
    static let script = """
        #!/bin/sh
        mkdir -p out
        printf '1..2\\nok 1 - adds\\nok 2 - subtracts\\n' > out/results.tap
        hit=$(cat coverage.txt)
        printf 'TN:\\nSF:calc.py\\nLF:10\\nLH:%s\\nend_of_record\\n' "$hit" > out/lcov.info
        """

    static let config = """
        target_branch: main
        gates:
          - name: unit
            type: unit_tests
            command: sh check.sh
            results: out/results.tap
            coverage: out/lcov.info
            criteria: {min_coverage: 80, required_tests: [adds], timeout_seconds: 30}

        """

    func fixture() throws -> PipelineTests.Fixture {
        try PipelineTests.Fixture(config: Self.config, files: ["check.sh": Self.script, "coverage.txt": "9\n"])
    }

    @Test("a coverage report the patch brings is not read: only what the gate writes counts")
    func coverageFromThePatch() async throws {
        // This gate writes results but no coverage.
        let script = "mkdir -p out\nprintf '1..1\\nok 1 - adds\\n' > out/results.tap\n"
        let fixture = try PipelineTests.Fixture(config: Self.config, files: ["check.sh": script])
        let entry = try await fixture.submit(
            try fixture.repository.diff {
                try $0.write("out/lcov.info", "TN:\nSF:calc.py\nLF:10\nLH:10\nend_of_record\n")
            })
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined)
        #expect(result.quarantine.quarantineReason?.contains("no coverage was reported") == true)
    }

    @Test("TAP results and lcov coverage decide the gate: 90% passes min_coverage 80")
    func passes() async throws {
        let fixture = try fixture()
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "more\n") })
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .committed)
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.results?.coveragePercent == 90 && gate.results?.totalTests == 2)
        #expect(gate.decision?.criteriaMet == ["max_failures": true, "min_coverage": true, "required_tests": true])
    }

    @Test("a patch that lowers coverage below the minimum is quarantined with the figure")
    func lowCoverage() async throws {
        let fixture = try fixture()
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("coverage.txt", "5\n") })
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined)
        #expect(result.quarantine.quarantineReason?.contains("min_coverage: 50% < 80%") == true)
    }

    @Test("a gate whose results file is missing ends in error: no trustworthy results")
    func missingResults() async throws {
        let fixture = try fixture()
        let held = try await fixture.submit(try fixture.repository.diff { try $0.write("check.sh", "exit 0\n") })
        // The gate's own script is a review path: a person lets the change through.
        #expect(held.state == .validated)
        let entry = try await fixture.engine.patches.approve(held.ledgerID, by: "alice")
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .quarantined)
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.state == .error && gate.decision?.reason.contains("wrote no results") == true)
    }

    /// A gate with coverage and no results: judged by its coverage and its exit code.
    static func coverageOnly(exit: Int) -> String {
        """
        target_branch: main
        gates:
          - name: coverage
            type: custom
            command: "sh check.sh; exit \(exit)"
            coverage: out/lcov.info
            criteria: {min_coverage: 80, timeout_seconds: 30}

        """
    }

    @Test("a coverage-only gate passes on its coverage and exit code 0")
    func coverageOnlyPasses() async throws {
        let fixture = try PipelineTests.Fixture(
            config: Self.coverageOnly(exit: 0), files: ["check.sh": Self.script, "coverage.txt": "9\n"])
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "more\n") })
        _ = try await fixture.run()
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.state == .passed, "\(gate.decision?.reason ?? "")")
        #expect(gate.results?.coveragePercent == 90)
        #expect(gate.decision?.criteriaMet["min_coverage"] == true)
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .committed)
    }

    @Test("a coverage-only gate fails on low coverage, or on a non-zero exit code")
    func coverageOnlyFails() async throws {
        let low = try PipelineTests.Fixture(
            config: Self.coverageOnly(exit: 0), files: ["check.sh": Self.script, "coverage.txt": "5\n"])
        _ = try await low.submit(try low.repository.diff { try $0.write("README.md", "more\n") })
        _ = try await low.run()
        let lowGate = try await #require(try low.engine.gates.list().first)
        #expect(lowGate.state == .failed && lowGate.decision?.reason.contains("min_coverage: 50% < 80%") == true)

        let exit = try PipelineTests.Fixture(
            config: Self.coverageOnly(exit: 3), files: ["check.sh": Self.script, "coverage.txt": "9\n"])
        _ = try await exit.submit(try exit.repository.diff { try $0.write("README.md", "more\n") })
        _ = try await exit.run()
        let exitGate = try await #require(try exit.engine.gates.list().first)
        #expect(exitGate.state == .failed && exitGate.decision?.reason.contains("exit code 3") == true)
        #expect(exitGate.decision?.criteriaMet["exit_code"] == false)
    }

    @Test("a report with an out-of-range value ends the gate in error; the run goes on")
    func outOfRangeReport() async throws {
        let script = """
            mkdir -p out
            echo '<testsuite><testcase name="adds" time="1e300"/></testsuite>' > out/junit.xml
            """
        let config = """
            target_branch: main
            gates:
              - {name: unit, command: sh check.sh, results: out/junit.xml, criteria: {timeout_seconds: 30}}

            """
        let fixture = try PipelineTests.Fixture(config: config, files: ["check.sh": script])
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "more\n") })
        let summary = try await fixture.run()
        #expect(summary.quarantined.count == 1)
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .quarantined)
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(gate.state == .error && gate.decision?.reason.contains("duration_seconds") == true)
    }
}
