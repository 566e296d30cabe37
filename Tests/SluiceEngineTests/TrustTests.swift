import Foundation
import SluiceCore
import SluiceEngine
import SluiceTesting
import Testing

/// A hostile agent's patches, each of which got past the gate before git became the authority.
/// Real git and the real pipeline.
@Suite("Trust: what a patch can and cannot do")
struct TrustTests {
    typealias Fixture = PipelineTests.Fixture

    /// Submits `diff` and runs the pipeline; returns the entry and whether main moved.
    func submitAndRun(_ fixture: Fixture, _ diff: String) async throws -> (PatchLedgerEntry, moved: Bool) {
        let before = try fixture.head()
        let entry = try await fixture.submit(diff)
        _ = try await fixture.run()
        return await (try fixture.engine.patches.get(entry.ledgerID), try fixture.head() != before)
    }

    func errors(_ entry: PatchLedgerEntry) -> String { entry.validation.validationErrors.joined(separator: "; ") }

    // MARK: - 1. What a patch changes is what git writes

    @Test("lines after the last hunk that look like rename headers cannot make Sluice judge another file")
    func trailingRenameHeaders() async throws {
        let fixture = try Fixture()
        let gateless = try fixture.repository.diff {
            try $0.write(
                "sluice.yml", PipelineTests.config().replacingOccurrences(of: "sh tests/check.sh", with: "true"))
        }
        let (entry, moved) = try await submitAndRun(
            fixture, gateless + "rename from README.md\nrename to README.md\n")
        #expect(entry.state == .quarantined)
        #expect(errors(entry).contains("diff_ambiguous"), "\(errors(entry))")
        #expect(!moved)
        #expect(try fixture.repository.git("show", "main:sluice.yml").contains("sh tests/check.sh"))
    }

    @Test("the same trick cannot put a file under .sluice/")
    func trailingHeadersIntoSluice() async throws {
        let fixture = try Fixture()
        let diff = """
            diff --git a/.sluice/evil b/.sluice/evil
            new file mode 100644
            --- /dev/null
            +++ b/.sluice/evil
            @@ -0,0 +1 @@
            +owned
            rename from notes.txt
            rename to notes.txt

            """
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("diff_ambiguous") || errors(entry).contains("path_sluice_dir"))
    }

    @Test("a date after a space on the +++ line is read as git reads it, and the disagreement refused")
    func dateAfterSpace() async throws {
        let fixture = try Fixture()
        let old = try fixture.repository.read("sluice.yml")
        let new = old.replacingOccurrences(of: "sh tests/check.sh", with: "true")
        let oldLines = old.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let newLines = new.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        var diff = "--- a/sluice.yml 2010-07-05 19:41:17\n+++ b/sluice.yml 2010-07-05 19:41:17\n"
        diff += "@@ -1,\(oldLines.count) +1,\(newLines.count) @@\n"
        diff += oldLines.map { "-" + $0 + "\n" }.joined() + newLines.map { "+" + $0 + "\n" }.joined()
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("diff_ambiguous"), "\(errors(entry))")
    }

    @Test(
        ".git and .sluice are matched in any letter case",
        arguments: [
            (".Sluice/sluice.db", "path_sluice_dir"), (".SLUICE/run.lock", "path_sluice_dir"),
            ("sub/.GIT/config", "path_git_dir"),
        ])
    func caseInsensitive(path: String, code: String) async throws {
        let fixture = try Fixture()
        let diff =
            "diff --git a/\(path) b/\(path)\nnew file mode 100644\n--- /dev/null\n+++ b/\(path)\n@@ -0,0 +1 @@\n+x\n"
        let entry = try await fixture.submit(diff)
        #expect(entry.state == .quarantined)
        #expect(errors(entry).contains(code), "\(errors(entry))")
    }

    // MARK: - 2. Symlinks are judged on the tree that results

    /// A fixture whose main has `docs/link -> ../README.md`.
    func linkedFixture(config: String = PipelineTests.config()) throws -> Fixture {
        let fixture = try Fixture(config: config)
        try FileManager.default.createDirectory(
            atPath: fixture.repository.path + "/docs", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: fixture.repository.path + "/docs/link", withDestinationPath: "../README.md")
        try fixture.repository.git("add", "docs/link")
        try fixture.repository.git("commit", "--quiet", "-m", "a link")
        return fixture
    }

    func newLink(_ path: String, _ target: String) -> String {
        "diff --git a/\(path) b/\(path)\nnew file mode 120000\n--- /dev/null\n+++ b/\(path)\n@@ -0,0 +1 @@\n+\(target)\n"
            + "\\ No newline at end of file\n"
    }

    @Test("copying a link to a place where its target leads outside is refused")
    func copiedLink() async throws {
        let fixture = try linkedFixture()
        let diff = "diff --git a/docs/link b/top\nsimilarity index 100%\ncopy from docs/link\ncopy to top\n"
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("symlink_outside: top"), "\(errors(entry))")
    }

    @Test("a link that goes out through another new link is refused")
    func chainedLinks() async throws {
        let fixture = try Fixture()
        let diff =
            newLink("a/b/c/d/e/f/up", "../../../../..") + newLink("a/b/c/d/e/f/g", "up/../../../../../../etc")
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("symlink_outside: a/b/c/d/e/f/g"), "\(errors(entry))")
        #expect(!errors(entry).contains("symlink_outside: a/b/c/d/e/f/up"))
    }

    @Test("a link target over two lines is judged as git writes it")
    func targetOverTwoLines() async throws {
        let fixture = try Fixture()
        let diff =
            "diff --git a/two b/two\nnew file mode 120000\n--- /dev/null\n+++ b/two\n@@ -0,0 +1,2 @@\n+../../..\n+x\n"
            + "\\ No newline at end of file\n"
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("symlink_outside: two"), "\(errors(entry))")
    }

    @Test(
        "links into .sluice or .git are refused",
        arguments: [".sluice", ".sluice/sluice.db", "docs/../.git/config", ".SLUICE"])
    func linksIntoReserved(target: String) async throws {
        let fixture = try Fixture()
        let entry = try await fixture.submit(newLink("ledger", target))
        #expect(entry.state == .quarantined)
        #expect(errors(entry).contains("symlink_outside: ledger"), "\(errors(entry))")
    }

    @Test("a link written by a binary patch is judged on the tree too")
    func binaryLink() async throws {
        let config = PipelineTests.config().replacingOccurrences(
            of: "max_apply_attempts: 3", with: "max_apply_attempts: 3\n  allow_binary: true")
        let fixture = try Fixture(config: config)
        // git's binary encoding of the 9 bytes "../../etc", as a new link.
        let diff = """
            diff --git a/evil b/evil
            new file mode 120000
            index 0000000000000000000000000000000000000000..8c3482dcfd2837a443dcb46084ab6d53669091c2
            GIT binary patch
            literal 9
            QcmdPX)7R6}Pc2CX011!+Qvd(}

            literal 0
            HcmV?d00001


            """
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .quarantined && !moved)
        #expect(errors(entry).contains("symlink_outside: evil"), "\(errors(entry))")
    }

    @Test("a link that stays inside, through another link, is accepted and lands")
    func goodLinks() async throws {
        let fixture = try linkedFixture()
        let diff = newLink("lib/up", "..") + newLink("lib/readme", "up/docs/link")
        let (entry, moved) = try await submitAndRun(fixture, diff)
        #expect(entry.state == .committed && moved, "\(entry.stateHistory.compactMap(\.reason))")
    }

    // MARK: - 3. A patch cannot change what judges it

    static let pytestConfig = """
        target_branch: main
        gates:
          - name: unit
            command: python3 -m pytest -q --junitxml=.sluice-results/junit.xml -c tests/pytest.cfg
            results: .sluice-results/junit.xml
        """

    @Test(
        "review paths hold a valid patch until a person approves it",
        arguments: [
            "conftest.py", "tests/conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini",
            "tests/pytest.cfg", ".gitattributes", "sub/.gitattributes", ".gitmodules",
        ])
    func reviewPaths(path: String) async throws {
        let fixture = try Fixture(config: TrustTests.pytestConfig)
        let diff = try fixture.repository.diff { try $0.write(path, "# changed\n") }
        let entry = try await fixture.submit(diff)
        #expect(entry.state == .validated)
        #expect(entry.stateHistory.last?.reason?.contains("review_required: \(path)") == true)
        // A run does not touch it.
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .validated)
        let approved = try await fixture.engine.patches.approve(entry.ledgerID, by: "alice")
        #expect(approved.state == .queued)
        let events = try await fixture.engine.events(entityID: entry.ledgerID.description)
        #expect(events.last?.actor == "alice" && events.last?.reason == "approved by alice")
        await #expect(try fixture.engine.patches.approver(of: entry.ledgerID) == "alice")
    }

    @Test("editing the gate's script, or only making it executable, needs review")
    func gateScript() async throws {
        let fixture = try Fixture()
        let edit = try fixture.repository.diff { try $0.write("tests/check.sh", "exit 0\n") }
        #expect(try await fixture.submit(edit).state == .validated)
        let chmod = "diff --git a/tests/check.sh b/tests/check.sh\nold mode 100644\nnew mode 100755\n"
        let entry = try await fixture.submit(chmod)
        #expect(entry.state == .validated)
        #expect(entry.stateHistory.last?.reason?.contains("review_required: tests/check.sh") == true)
    }

    @Test("a gitlink needs review")
    func gitlink() async throws {
        let fixture = try Fixture()
        let commit = try fixture.head()
        let diff =
            "diff --git a/vendor/sub b/vendor/sub\nnew file mode 160000\nindex 0000000..\(commit.prefix(7))\n"
            + "--- /dev/null\n+++ b/vendor/sub\n@@ -0,0 +1 @@\n+Subproject commit \(commit)\n"
        let entry = try await fixture.submit(diff)
        #expect(entry.state == .validated, "\(errors(entry))")
        #expect(entry.stateHistory.last?.reason?.contains("review_required: vendor/sub") == true)
    }

    @Test("policy.review adds paths; review_exempt removes a built-in entry by name, and only a real one")
    func configuredReview() async throws {
        let config = PipelineTests.config().replacingOccurrences(
            of: "max_apply_attempts: 3",
            with: "max_apply_attempts: 3\n  review: [\"docs/**\"]\n  review_exempt: [.gitattributes]")
        let fixture = try Fixture(config: config)
        let docs = try await fixture.submit(try fixture.repository.diff { try $0.write("docs/a.md", "a\n") })
        #expect(docs.state == .validated)
        let attributes = try await fixture.submit(
            try fixture.repository.diff { try $0.write(".gitattributes", "*.md text\n") })
        #expect(attributes.state == .queued)
        #expect(throws: SluiceError.self) {
            try ConfigLoader.parse("policy:\n  review_exempt: [conftest.py]\n", defaultBranch: "main")
        }
    }

    /// A gate whose test cases are the lines of `cases.txt`, all passing.
    static let casesConfig = """
        target_branch: main
        gates:
          - name: unit
            command: sh tests/cases.sh
            results: .sluice-results/junit.xml
        """
    static let casesScript = """
        mkdir -p .sluice-results
        { echo '<testsuite name="t">'; while read -r name; do echo "<testcase classname=\\"t\\" name=\\"$name\\"/>"; done < cases.txt; echo '</testsuite>'; } > .sluice-results/junit.xml
        """

    @Test("a test that passed on the target branch and vanished from a patch's results fails the gate, unless approved")
    func vanishedTests() async throws {
        let fixture = try Fixture(
            config: TrustTests.casesConfig,
            files: ["tests/cases.sh": TrustTests.casesScript, "cases.txt": "one\ntwo\nthree\n"])
        // The first landing sets what passes on main.
        let first = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "v2\n") })
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(first.ledgerID).state == .committed)

        let dropTwo = try fixture.repository.diff { try $0.write("cases.txt", "one\nthree\n") }
        let (dropped, moved) = try await submitAndRun(fixture, dropTwo)
        #expect(dropped.state == .quarantined && !moved)
        #expect(dropped.quarantine.quarantineReason?.contains("tests_missing") == true)
        #expect(dropped.quarantine.quarantineReason?.contains("t.two") == true)

        // Passing runs of the gate by other patches, however many (here 30 passed checks of the branch,
        // as failing patches' flake verdicts leave), do not hide the run that landed main's head.
        for _ in 1...30 {
            let check = try await fixture.engine.gates.create(
                name: "unit", type: .custom,
                metadata: [
                    "check": .string("base"), "base_commit": .string(try fixture.head()),
                    "ledger_id": .string(dropped.ledgerID.description),
                ], starting: "true")
            _ = try await fixture.engine.gates.complete(check.gateID, exitCode: 0, results: nil)
        }
        let (again, _) = try await submitAndRun(fixture, dropTwo)
        #expect(again.quarantine.quarantineReason?.contains("tests_missing") == true)

        // A person can decide the test is gone for good.
        let held = try await fixture.submit(dropTwo, hold: true)
        _ = try await fixture.engine.patches.approve(held.ledgerID, by: "alice")
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(held.ledgerID).state == .committed)
    }
}

/// Patches from agents that work in parallel, on bases that move.
@Suite("Parallel agents' patches")
struct ParallelPatchTests {
    typealias Fixture = PipelineTests.Fixture

    @Test("a patch made on top of another queued patch is queued, waits, and lands after it")
    func stacked() async throws {
        let fixture = try Fixture(files: ["notes.txt": "one\n"])
        let first = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1,2 @@\n one\n+two\n"
        let second = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,2 +1,3 @@\n one\n two\n+three\n"
        let a = try await fixture.submit(first)
        let b = try await fixture.submit(second)
        #expect(a.state == .queued && b.state == .queued)
        let summary = try await fixture.run()
        #expect(summary.landed == [a.ledgerID.description, b.ledgerID.description])
        #expect(try fixture.repository.read("notes.txt") == "one\ntwo\nthree\n")
    }

    @Test("a patch made on an older base lands when it merges cleanly (git apply --3way)")
    func threeWay() async throws {
        let fixture = try Fixture(files: ["letters.txt": "a\nb\nc\nd\ne\nf\ng\n"])
        let older = try fixture.repository.diff { try $0.write("letters.txt", "a\nb\nc\nd\nE\nf\ng\n") }
        let newer = try fixture.repository.diff { try $0.write("letters.txt", "a\nB\nc\nd\ne\nf\ng\n") }
        let landedFirst = try await fixture.submit(newer)
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(landedFirst.ledgerID).state == .committed)
        // Its context ("b") is gone from main, so it no longer applies as it is; it merges.
        #expect(throws: GitFailure.self) { try fixture.repository.git("apply", "--check", input: older) }
        let entry = try await fixture.submit(older)
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .committed, "\(result.stateHistory.compactMap(\.reason))")
        #expect(try fixture.repository.read("letters.txt") == "a\nB\nc\nd\nE\nf\ng\n")
    }

    @Test("a conflict is retried only on a head it has not failed on")
    func retriesOnNewHeads() async throws {
        let fixture = try Fixture(files: ["notes.txt": "one\n", "other.txt": "x\n"])
        let conflicting = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1 +1 @@\n-uno\n+eins\n"
        let waiting = try await fixture.submit(conflicting)
        let mover = try await fixture.submit(try fixture.repository.diff { try $0.write("other.txt", "y\n") })
        let summary = try await fixture.run()
        #expect(summary.landed == [mover.ledgerID.description])
        let result = try await fixture.engine.patches.get(waiting.ledgerID)
        // Tried on the first head, then once more after the other patch moved main; never twice on one head.
        #expect(result.state == .quarantined)
        #expect(result.apply.attempts == 2)
    }
}

/// What the attack on this issue's first build found, each closed.
@Suite("Trust: found by attacking it")
struct TrustFindingsTests {
    typealias Fixture = PipelineTests.Fixture

    static let sourcingConfig = """
        target_branch: main
        gates:
          - name: check
            command: sh tests/gate.sh
        """

    @Test("a gate that changes a tracked file it tests (the staged one stays broken) does not land it")
    func gateChangesTrackedFile() async throws {
        // The gate's script is reviewed; the file it sources is not, and the patch changes that one.
        let fixture = try Fixture(
            config: Self.sourcingConfig,
            files: [
                "tests/gate.sh": ". tests/lib.sh\ngrep -q good value.txt\n", "tests/lib.sh": "true\n",
                "value.txt": "good\n",
            ])
        let diff = try fixture.repository.diff {
            try $0.write("value.txt", "bad\n")
            try $0.write("tests/lib.sh", "echo good > value.txt\n")
        }
        let before = try fixture.head()
        let entry = try await fixture.submit(diff)
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined, "\(result.stateHistory.compactMap(\.reason))")
        #expect(result.quarantine.quarantineReason?.contains("changed tracked files") == true)
        #expect(try fixture.head() == before)
    }

    @Test("a patch that does not apply yet waits while a held patch could still be approved and move the branch")
    func waitsForHeld() async throws {
        let fixture = try Fixture(files: ["notes.txt": "one\n"])
        let held = try await fixture.submit(
            try fixture.repository.diff {
                try $0.write("notes.txt", "one\ntwo\n")
                try $0.write("tests/check.sh", PipelineTests.check + "\n")
            })
        #expect(held.state == .validated)
        let stacked = try await fixture.submit(
            "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,2 +1,3 @@\n one\n two\n+three\n")
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(stacked.ledgerID).state == .queued)
        _ = try await fixture.engine.patches.approve(held.ledgerID, by: "alice")
        let summary = try await fixture.run()
        #expect(summary.landed == [held.ledgerID.description, stacked.ledgerID.description])
    }

    @Test("the revert of a patch that added a test may delete that test")
    func revertAddedTest() async throws {
        let fixture = try Fixture()
        let added = try await fixture.submit(
            try fixture.repository.diff { try $0.write("tests/test_more.py", "# another test\n") })
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(added.ledgerID).state == .committed)
        let revert = try await fixture.pipeline.revert(added.ledgerID)
        #expect(revert.state == .queued, "\(revert.validation.validationErrors)")
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(revert.ledgerID).state == .committed)
        #expect(!FileManager.default.fileExists(atPath: fixture.repository.path + "/tests/test_more.py"))
    }

    @Test("an approver's name is one line")
    func approverName() async throws {
        let fixture = try Fixture()
        let held = try await fixture.submit(
            try fixture.repository.diff { try $0.write("README.md", "x\n") }, hold: true)
        await #expect(throws: SluiceError.self) {
            try await fixture.engine.patches.approve(held.ledgerID, by: "al\nice")
        }
        await #expect(try fixture.engine.patches.get(held.ledgerID).state == .validated)
    }
}

@Suite("Trust: a killed run is not the patch's fault")
struct InterruptionTests {
    @Test("a patch whose run was killed while it was gated is requeued, whatever its attempts, and lands")
    func interruptedIsNotAnAttempt() async throws {
        let config = PipelineTests.config().replacingOccurrences(
            of: "max_apply_attempts: 3", with: "max_apply_attempts: 1")
        let fixture = try PipelineTests.Fixture(config: config)
        let entry = try await fixture.submit(
            try fixture.repository.diff { try $0.write("README.md", "calc, improved\n") })
        // As a run killed mid-gate leaves it: applied, its one attempt counted.
        _ = try await fixture.engine.patches.applied(entry.ledgerID, workspace: "/gone", files: ["README.md"])
        let summary = try await fixture.run()
        #expect(summary.landed == [entry.ledgerID.description], "\(summary.quarantined)")
    }
}

@Suite("Trust: found by the second attack")
struct SecondAttackTests {
    typealias Fixture = PipelineTests.Fixture

    @Test("a review path reached through a link of main is held: editing the link's target")
    func throughLink() async throws {
        let fixture = try Fixture(
            config: "target_branch: main\ngates:\n  - {name: check, command: sh ci/check.sh}\n",
            files: ["tools/check.sh": "exit 0\n"])
        try FileManager.default.createSymbolicLink(
            atPath: fixture.repository.path + "/ci", withDestinationPath: "tools")
        try fixture.repository.git("add", "ci")
        try fixture.repository.git("commit", "-qm", "ci is tools")
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("tools/check.sh", "true\n") })
        #expect(entry.state == .validated, "\(entry.stateHistory.compactMap(\.reason))")
        #expect(entry.stateHistory.last?.reason?.contains("review_required: ci/check.sh") == true)
    }

    @Test("a results file the gate makes huge, or not a regular file, is not read: the gate ends in error")
    func hugeResults() async throws {
        let config = """
            target_branch: main
            gates:
              - name: unit
                command: sh tests/gate.sh
                results: out/junit.xml
            """
        let fixture = try Fixture(
            config: config,
            files: [
                "tests/gate.sh": "mkdir -p out\nsh tests/make.sh\n",
                "tests/make.sh": "echo '<testsuite/>' > out/junit.xml\n",
            ])
        // A sparse file past the limit: Sluice would read it whole.
        let entry = try await fixture.submit(
            try fixture.repository.diff {
                try $0.write("tests/make.sh", "truncate -s 100M out/junit.xml\n")
            })
        _ = try await fixture.run()
        let gate = try await #require(try fixture.engine.gates.list().first)
        #expect(
            gate.state == .error && gate.decision?.reason.contains("at most 64 MiB") == true,
            "\(gate.decision?.reason ?? "")")
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .quarantined)
    }
}

@Suite("Trust: reverts and vanished tests")
struct RevertVanishedTests {
    @Test("the revert of a patch that added a test case is not failed for that test case going")
    func revertAddedCase() async throws {
        let fixture = try PipelineTests.Fixture(
            config: TrustTests.casesConfig,
            files: ["tests/cases.sh": TrustTests.casesScript, "cases.txt": "one\ntwo\n"])
        let first = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "v2\n") })
        _ = try await fixture.run()
        let added = try await fixture.submit(
            try fixture.repository.diff { try $0.write("cases.txt", "one\ntwo\nthree\n") })
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(first.ledgerID).state == .committed)
        await #expect(try fixture.engine.patches.get(added.ledgerID).state == .committed)
        let revert = try await fixture.pipeline.revert(added.ledgerID)
        _ = try await fixture.run()
        let result = try await fixture.engine.patches.get(revert.ledgerID)
        #expect(result.state == .committed, "\(result.quarantine.quarantineReason ?? "")")
        // A patch that is not a revert still may not drop a test that passed.
        let drop = try await fixture.submit(try fixture.repository.diff { try $0.write("cases.txt", "one\n") })
        _ = try await fixture.run()
        await #expect(
            try fixture.engine.patches.get(drop.ledgerID).quarantine.quarantineReason?.contains("t.two") == true)
    }
}
