import Foundation
import SluiceCore
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

/// The pipeline's gates, sealed and not, on real repositories.
@Suite("Landing pipeline: sealed gates")
struct PipelineSandboxTests {
    /// A gate that passes only if it cannot reach the ledger, the logs or the main working tree, and can
    /// read the repository's git data, its HOME, and write its workspace, /tmp and its cache.
    static let sealedCheck = """
        #!/bin/sh
        fail() { echo "SEAL BROKEN: $*"; exit 1; }
        common=$(git rev-parse --git-common-dir) || fail "git cannot read the repository"
        repository=$(cd "$common/.." && pwd)
        git status --porcelain > /dev/null || fail "git status fails"
        ls ../../sluice.db 2>/dev/null && fail "../../sluice.db is reachable"
        ls ../../.sluice 2>/dev/null && fail "../../.sluice is reachable"
        test -e "$repository/.sluice/sluice.db" && fail "the ledger is visible by its absolute path"
        test -s "$repository/.sluice/sluice.db" && fail "the ledger is readable by its absolute path"
        ls "$repository/.sluice/logs" 2>/dev/null && fail "the logs are visible"
        test -e "$repository/.sluice/run.lock" && fail "the run lock is visible"
        test -r "$repository/README.md" || fail "the main working tree is not readable"
        touch "$repository/README.md" 2>/dev/null && fail "the main working tree is writable"
        touch "$common/sluice-probe" 2>/dev/null && fail "the main .git is writable"
        ls "$HOME" > /dev/null || fail "HOME is not readable"
        touch "$HOME/.sluice-gate-probe" 2>/dev/null && fail "HOME is writable"
        touch /tmp/probe ./probe || fail "/tmp or the workspace is not writable"
        touch "$XDG_CACHE_HOME/probe" || fail "XDG_CACHE_HOME is not writable"
        test -e ../../other/run/secret && fail "another repository's workspace is visible"
        test -e "$XDG_CACHE_HOME/../other/secret" && fail "another repository's gate cache is visible"
        echo sealed
        """

    static func config(gate: String, sandbox: String = "auto", extra: String = "") -> String {
        """
        target_branch: main
        sandbox: \(sandbox)
        gates:
          - name: probe
            type: custom
            command: \(gate)
            criteria: {timeout_seconds: 60}
        \(extra)
        logs: {grace_seconds: 1}
        """
    }

    static func haveBubblewrap() async -> Bool {
        if case .failure(let problem) = await ProcessSandbox.locateBubblewrap() {
            Issue.record("bwrap is installed but unusable: \(problem.reason)")
            return false
        }
        return true
    }

    func land(_ fixture: PipelineTests.Fixture, pipeline: Pipeline? = nil) async throws -> (PatchLedgerEntry, String) {
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "more\n") })
        _ = try await (pipeline ?? fixture.pipeline).run { _ in }
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        let log =
            (try? String(
                contentsOfFile: fixture.pipeline.sluiceDirectory + "/logs/\(entry.ledgerID)/probe.log",
                encoding: .utf8)) ?? result.quarantine.quarantineReason ?? ""
        let kept = result.quarantine.quarantinePath.flatMap {
            try? String(contentsOfFile: $0 + "/probe.log", encoding: .utf8)
        }
        return (result, kept ?? log)
    }

    @Test(
        "sealed, a gate cannot reach the ledger, logs, lock or main tree, and can use git, HOME, /tmp and its cache",
        .enabled(if: TestBubblewrap.isInstalled, Comment(rawValue: TestBubblewrap.skipReason)))
    func sealedGate() async throws {
        guard await Self.haveBubblewrap() else { return }
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: "sh probe.sh"), files: ["probe.sh": Self.sealedCheck])
        // Another repository's workspace and cache, in the same scratch directory.
        for folder in ["workspaces/other/run", "gate-cache/other"] {
            let path = fixture.scratch.file(folder)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try "x".write(toFile: path + "/secret", atomically: true, encoding: .utf8)
        }
        let (entry, log) = try await land(fixture)
        #expect(entry.state == .committed, "\(log)")
        #expect(try fixture.repository.read("README.md") == "more\n")
        #expect(!FileManager.default.fileExists(atPath: fixture.repository.path + "/.git/sluice-probe"))
    }

    @Test(
        "a gate that points the workspace's .git at a git directory of its own runs nothing outside the sandbox",
        arguments: ["file", "directory", "symlink"])
    func gitLinkRestored(kind: String) async throws {
        let outside = TemporaryDirectory()
        let marker = outside.file("hook-ran")
        // A copy of the repository's git data with a post-commit hook, made from inside the gate; the
        // commit Sluice makes after the gates would run it, unsealed.
        let replace =
            switch kind {
            case "file": "printf \"gitdir: %s\\n\" \"$PWD/fakewt\" > .git"
            case "directory": "rm .git && cp -r fakecommon .git"
            default: "rm .git && ln -s fakecommon .git"
            }
        let script = """
            common=$(cd "$(git rev-parse --git-common-dir)" && pwd)
            own=$(cd "$(git rev-parse --git-dir)" && pwd)
            cp -r "$common" fakecommon && cp -r "$own" fakewt || exit 1
            echo "$PWD/fakecommon" > fakewt/commondir
            mkdir -p fakecommon/hooks
            printf '#!/bin/sh\ntouch \(marker)\n' > fakecommon/hooks/post-commit
            chmod +x fakecommon/hooks/post-commit
            git -C fakecommon config core.bare false
            \(replace)
            """
        let fixture = try PipelineTests.Fixture(
            config: Self.config(gate: "sh evil.sh"), files: ["evil.sh": script])
        let (entry, log) = try await land(fixture)
        #expect(entry.state == .committed, "\(log)")
        #expect(!FileManager.default.fileExists(atPath: marker), "a hook planted by the gate ran")
        #expect(try fixture.repository.read("README.md") == "more\n")
    }

    @Test("a repository that is a linked worktree shows its git directories to the sealed gate, read-only")
    func linkedRepository() throws {
        let fixture = try PipelineTests.Fixture()
        let linked = fixture.scratch.file("linked")
        try fixture.repository.git("worktree", "add", "--detach", "--quiet", linked, "main")
        let pipeline = Pipeline(engine: fixture.engine, repository: linked, scratchDirectory: fixture.scratch.path)
        #expect(
            pipeline.linkedGitDirectories() == [
                fixture.repository.path + "/.git/worktrees/linked", fixture.repository.path + "/.git",
            ])
        #expect(fixture.pipeline.linkedGitDirectories().isEmpty)
        let sandbox = pipeline.sandbox(
            for: GateConfig(name: "g", type: .custom, command: "x"), workspace: "/w", bubblewrap: "/usr/bin/bwrap")
        #expect(
            sandbox.readOnly == (ProcessInfo.processInfo.environment["HOME"].map { [$0] } ?? []) + [
                linked, fixture.repository.path + "/.git/worktrees/linked", fixture.repository.path + "/.git",
            ])
        #expect(sandbox.hidden.contains(linked + "/.sluice") && sandbox.writable.first == "/w")
    }

    @Test("results and coverage linked to a file outside the workspace are not read", arguments: ["auto", "none"])
    func linkedResults(sandbox: String) async throws {
        let outside = TemporaryDirectory()
        try "<testsuite><testcase classname=\"t\" name=\"secret_line\"/></testsuite>\n".write(
            toFile: outside.file("junit.xml"), atomically: true, encoding: .utf8)
        try "TN:\nSF:x\nLF:10\nLH:10\nend_of_record\n".write(
            toFile: outside.file("lcov.info"), atomically: true, encoding: .utf8)
        let config = """
            target_branch: main
            sandbox: \(sandbox)
            gates:
              - name: coverage
                type: unit_tests
                command: 'mkdir -p out && printf "1..1\\nok 1 - a\\n" > out/r.tap && ln -sf \(outside.file("lcov.info")) out/lcov.info'
                results: out/r.tap
                coverage: out/lcov.info
              - name: linked
                type: unit_tests
                command: 'mkdir -p out && ln -s \(outside.file("junit.xml")) out/junit.xml'
                results: out/junit.xml
            """
        let fixture = try PipelineTests.Fixture(config: config)
        let (entry, _) = try await land(fixture)
        #expect(entry.state == .quarantined)
        let gate = try await #require(try fixture.engine.gates.list().first { $0.name == "linked" })
        #expect(gate.state == .error && gate.decision?.reason.contains("wrote no results") == true)
        #expect(gate.results?.testCases.isEmpty ?? true)
        let coverage = try await #require(try fixture.engine.gates.list().first { $0.name == "coverage" })
        #expect(coverage.state == .passed && coverage.results?.coveragePercent == nil)
    }

    @Test("unsealed, ../.. from the workspace is no ledger")
    func unsealedRelativePath() async throws {
        let gate = "'if ls ../../sluice.db ../../.sluice ../../../.sluice; then exit 1; fi; echo ok'"
        let fixture = try PipelineTests.Fixture(config: Self.config(gate: gate, sandbox: "none"))
        let (entry, log) = try await land(fixture)
        #expect(entry.state == .committed, "\(log)")
    }

    @Test(
        "a secret in Sluice's environment is not the gate's; pass_env passes it and env sets one",
        arguments: ["auto", "none"])
    func environment(sandbox: String) async throws {
        let extra = """
              - name: passed
                type: custom
                command: 'test "$SLUICE_TEST_API_SECRET" = hunter2 && test "$MODE" = "sealed run" && test -n "$XDG_CACHE_HOME"'
                env: {MODE: sealed run}
                pass_env: [SLUICE_TEST_API_SECRET]
            """
        let fixture = try PipelineTests.Fixture(
            config: Self.config(
                gate: "'env; test -z \"$SLUICE_TEST_API_SECRET\" && test -z \"$MODE\"'", sandbox: sandbox, extra: extra)
        )
        // A secret in Sluice's environment (given here, not set in this process: setenv while other
        // tests' threads start processes crashed the suite).
        var pipeline = fixture.pipeline
        pipeline.inheritedEnvironment = {
            ProcessInfo.processInfo.environment.merging(["SLUICE_TEST_API_SECRET": "hunter2"]) { _, new in new }
        }
        let (entry, log) = try await land(fixture, pipeline: pipeline)
        #expect(entry.state == .committed, "\(log)")
        let gates = try await fixture.engine.gates.list()
        #expect(gates.count == 2 && gates.allSatisfy { $0.state == .passed }, "\(gates.map(\.decision))")
    }

    @Test("XDG_CACHE_HOME is the gate's own, kept between gate runs, and outside .sluice")
    func cacheKept() async throws {
        let gate =
            "'n=$(cat \"$XDG_CACHE_HOME/count\" 2>/dev/null || echo 0); echo $((n + 1)) > \"$XDG_CACHE_HOME/count\"'"
        let fixture = try PipelineTests.Fixture(config: Self.config(gate: gate))
        let first = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "one\n") })
        _ = try await fixture.run()
        let second = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "two\n") })
        _ = try await fixture.run()
        await #expect(try fixture.engine.patches.get(first.ledgerID).state == .committed)
        await #expect(try fixture.engine.patches.get(second.ledgerID).state == .committed)
        let caches = try FileManager.default.contentsOfDirectory(
            atPath: fixture.pipeline.scratchDirectory + "/gate-cache")
        #expect(caches.count == 1)
        let count = try String(
            contentsOfFile: fixture.pipeline.scratchDirectory + "/gate-cache/\(caches[0])/count", encoding: .utf8)
        #expect(count == "2\n")
    }

    @Test("a workspace's repository is recorded beside it (patch rollback finds it there), and ../.. is no ledger")
    func workspaceRepository() async throws {
        let fixture = try PipelineTests.Fixture()
        let workspace = try await fixture.pipeline.recreateWorkspace(at: try fixture.head())
        #expect(workspace.hasPrefix(fixture.scratch.path + "/workspaces/"))
        #expect(Pipeline.repository(ofWorkspace: workspace) == fixture.repository.path)
        #expect(Pipeline.repository(ofWorkspace: fixture.repository.path) == nil)
        #expect(!FileManager.default.fileExists(atPath: workspace + "/../../sluice.db"))
        #expect(!FileManager.default.fileExists(atPath: workspace + "/../../.sluice"))
        try await fixture.pipeline.removeWorkspace()
        #expect(!FileManager.default.fileExists(atPath: workspace))
        #expect(Pipeline.repository(ofWorkspace: workspace) == nil)
        #expect(try fixture.repository.git("worktree", "list").split(separator: "\n").count == 1)
    }

    @Test("sandbox: bubblewrap without a working bubblewrap stops the run before anything moves")
    func bubblewrapRequired() async throws {
        let fixture = try PipelineTests.Fixture(config: Self.config(gate: "true", sandbox: "bubblewrap"))
        var pipeline = fixture.pipeline
        pipeline.locateBubblewrap = { .failure(SandboxUnavailable("bwrap (bubblewrap) is not installed")) }
        let entry = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "x\n") })
        await #expect {
            try await pipeline.run { _ in }
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .blocked && error?.message.contains("sets sandbox: bubblewrap") == true
                && error?.message.contains("not installed") == true
        }
        await #expect(try fixture.engine.patches.get(entry.ledgerID).state == .queued)
        await #expect(try fixture.engine.gates.list().isEmpty)
    }

    @Test("sandbox: auto without bubblewrap warns once per run and runs the gates unsealed; none does not warn")
    func autoWarns() async throws {
        for (sandbox, warned) in [("auto", 1), ("none", 0)] {
            let fixture = try PipelineTests.Fixture(config: Self.config(gate: "true", sandbox: sandbox))
            var pipeline = fixture.pipeline
            pipeline.locateBubblewrap = { .failure(SandboxUnavailable("bwrap (bubblewrap) is not installed")) }
            _ = try await fixture.submit(try fixture.repository.diff { try $0.write("README.md", "x\n") })
            _ = try await fixture.submit(try fixture.repository.diff { try $0.write("calc.py", "x = 1\n") })
            let events = EventLog()
            let summary = try await pipeline.run { events.append($0) }
            #expect(summary.landed.count == 2)
            let warnings = events.all.filter { $0.step == "warning" }
            #expect(warnings.count == warned, "\(sandbox): \(warnings.map(\.message))")
            #expect(
                warnings.allSatisfy { $0.message.contains("gates are not sealed: bwrap (bubblewrap) is not installed") }
            )
        }
    }
}

/// Events collected from a run.
final class EventLog: Sendable {
    private let events = Mutex<[PipelineEvent]>([])
    func append(_ event: PipelineEvent) { events.withLock { $0.append(event) } }
    var all: [PipelineEvent] { events.withLock { $0 } }
}
