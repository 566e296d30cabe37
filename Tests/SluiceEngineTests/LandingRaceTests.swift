import Foundation
import SluiceCore
import SluiceStore
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

/// The landing's three compare-and-swap races on real repositories, with real git and real gates:
/// another writer moves the branch, or a gate changes what it tested, at the precise moment each
/// race needs.
@Suite("Landing races on real git")
struct LandingRaceTests {
    typealias Fixture = PipelineTests.Fixture

    /// The real git, with `before` run ahead of each command (another writer acting at that moment);
    /// every command is recorded.
    final class InterferingGit: GitClient {
        let git: Git
        let before: @Sendable (GitCommand) -> Void
        private let recorded = Mutex<[GitCommand]>([])

        init(repository: String, before: @escaping @Sendable (GitCommand) -> Void = { _ in }) {
            self.git = Git(repository: repository)
            self.before = before
        }

        var repository: String { git.repository }
        var calls: [GitCommand] { recorded.withLock { $0 } }

        func run(_ command: GitCommand) async throws -> GitOutput {
            recorded.withLock { $0.append(command) }
            before(command)
            return try await git.run(command)
        }
    }

    /// Real gate processes, with `after` run once a gate has ended (in its workspace) and before the
    /// pipeline looks at what it did.
    struct InterferingProcesses: ProcessLaunching {
        let runner = ProcessRunner()
        let after: @Sendable (_ workspace: String) -> Void

        func run(
            shell command: String, in directory: String, timeout: Duration, grace: Duration, log logPath: String,
            logLimit: Int, environment: [String: String], sandbox: ProcessSandbox,
            started: @escaping @Sendable (Int32) -> Void
        ) async -> ProcessOutcome {
            let outcome = await runner.run(
                shell: command, in: directory, timeout: timeout, grace: grace, log: logPath, logLimit: logLimit,
                environment: environment, sandbox: sandbox, started: started)
            after(directory)
            return outcome
        }
    }

    /// The fixture's pipeline over another git and gate launcher.
    func pipeline(
        _ fixture: Fixture, git: InterferingGit, processes: any ProcessLaunching = ProcessRunner()
    ) -> Pipeline {
        Pipeline(
            engine: fixture.engine, git: git, processes: processes, scratchDirectory: fixture.scratch.path)
    }

    func goodDiff(_ fixture: Fixture) throws -> String {
        try fixture.repository.diff {
            try $0.write("calc.py", try $0.read("calc.py") + "\n\ndef mul(a, b):\n    return a * b\n")
        }
    }

    @Test(
        "race: the branch moves while the gates run: the patch is not landed on the old base, but applied and gated again on the new head"
    )
    func branchMovesDuringGates() async throws {
        let fixture = try Fixture()
        let entry = try await fixture.submit(try goodDiff(fixture))
        let before = try fixture.head()
        let repository = fixture.repository
        let once = Mutex(false)
        let processes = InterferingProcesses { _ in
            let first = once.withLock { fired in
                let was = fired
                fired = true
                return !was
            }
            guard first else { return }
            // Another writer commits on main while the first gate run ends.
            try? repository.commit(["other.txt": "another writer\n"], message: "meanwhile")
        }
        let git = InterferingGit(repository: fixture.repository.path)
        let summary = try await pipeline(fixture, git: git, processes: processes).run { _ in }

        let meanwhile = try fixture.repository.git("rev-parse", "main^")
        #expect(try meanwhile != before && fixture.repository.git("rev-parse", "\(meanwhile)^") == before)
        #expect(summary.landed == [entry.ledgerID.description] && summary.requeued == 1)
        let landed = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(landed.state == .committed)
        #expect(
            landed.stateHistory.contains { $0.reason == "branch_moved: main moved while the gates ran; re-applying" })
        // One compare-and-swap, from the new head; the gates ran once per head.
        let swaps = git.calls.filter { $0.arguments.first == "update-ref" }
        #expect(swaps.count == 1 && swaps.first?.arguments.last == meanwhile)
        await #expect(try fixture.engine.gates.list().count == 2)
        #expect(try fixture.repository.read("other.txt") == "another writer\n")
        #expect(try fixture.repository.read("calc.py").contains("def mul"))
        #expect(try fixture.repository.git("status", "--porcelain", "--untracked-files=no").isEmpty)
    }

    @Test("race: a gate changes a tracked file it tested: the staged tree is refused after the gates, nothing lands")
    func gateChangesTestedTree() async throws {
        let fixture = try Fixture()
        let entry = try await fixture.submit(try goodDiff(fixture))
        let before = try fixture.head()
        let processes = InterferingProcesses { workspace in
            // What a gate's test could do: rewrite a file under test after the tests read it.
            let file = (workspace as NSString).appendingPathComponent("calc.py")
            try? "def add(a, b):\n    return a - b\n".write(toFile: file, atomically: true, encoding: .utf8)
        }
        let git = InterferingGit(repository: fixture.repository.path)
        let summary = try await pipeline(fixture, git: git, processes: processes).run { _ in }

        let reason = "the gates changed tracked files they tested (git diff); what would land is not what was tested"
        #expect(summary.quarantined.map(\.reason) == [reason])
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined && result.quarantine.quarantineReason == reason)
        #expect(!git.calls.contains { ["commit-tree", "update-ref"].contains($0.arguments.first) })
        #expect(try fixture.head() == before)
    }

    @Test("race: another writer moves the branch between the check and update-ref: the swap fails, nothing is lost")
    func updateRefLosesTheRace() async throws {
        let fixture = try Fixture()
        let entry = try await fixture.submit(try goodDiff(fixture))
        let before = try fixture.head()
        let repository = fixture.repository
        let git = InterferingGit(repository: fixture.repository.path) { command in
            guard command.arguments.first == "update-ref" else { return }
            try? repository.commit(["other.txt": "another writer\n"], message: "the other writer")
        }
        let events = Mutex<[PipelineEvent]>([])
        let summary = try await pipeline(fixture, git: git).run { event in events.withLock { $0.append(event) } }

        let reason = "main moved while the patch was landing; resubmit it"
        #expect(summary.quarantined.map(\.reason) == [reason] && summary.landed.isEmpty)
        let result = try await fixture.engine.patches.get(entry.ledgerID)
        #expect(result.state == .quarantined && result.quarantine.quarantineReason == reason)
        let source = try await #require(try fixture.engine.context.storage.patchSource(entry.ledgerID))
        #expect(source.testedCommit != nil && source.landedCommit == nil)
        // main is the other writer's commit, on the old base; the patch's commit is nowhere on it.
        #expect(try fixture.repository.git("log", "-1", "--format=%s", "main") == "the other writer")
        #expect(try fixture.repository.git("rev-parse", "main^") == before)
        #expect(try !fixture.repository.read("calc.py").contains("def mul"))
        #expect(try fixture.repository.git("status", "--porcelain", "--untracked-files=no").isEmpty)
        let land = events.withLock { $0 }.filter { $0.ledgerID == entry.ledgerID.description }.map(\.step)
        #expect(land.suffix(2) == ["land", "done"])
    }
}
