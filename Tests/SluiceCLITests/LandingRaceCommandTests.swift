import Foundation
import SluiceTesting
import Testing

/// `sluice run` when another writer wins the compare-and-swap: a `git` first on PATH commits on the
/// target branch just before the landing's `update-ref`, as a person pushing at that moment would.
@Suite("Landing loses the compare-and-swap")
struct LandingRaceCommandTests {
    func sluice(
        _ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> CommandLineProcess.Result {
        try await CommandLineProcess.run(arguments, input: input, environment: environment, directory: repository.path)
    }

    @Test("the swap fails: the run exits 1 naming the patch set aside, and the other writer's commit stays")
    func updateRefLoses() async throws {
        let scratch = TemporaryDirectory()
        // The first time it is asked to update-ref, it commits on the checked-out branch first.
        let git = try InterferingGit(
            in: scratch, firstTime: "update-ref",
            action: "\"$REAL_GIT\" commit --quiet --allow-empty -m \"another writer\" || exit 99")
        let repository = try PipelineCommandTests.repository()
        #expect(try await sluice(["init"], in: repository).status == 0)
        let before = try repository.git("rev-parse", "main")
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String)

        let run = try await sluice(["run"], in: repository, environment: ["PATH": git.path])
        #expect(git.fired, "update-ref was never run")
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("main moved while the patch was landing; resubmit it"), "\(run.stdout)")
        let shown = try await sluice(["patch", "show", id, "--json"], in: repository).stdout
        #expect(shown.contains("\"state\":\"quarantined\""))
        #expect(try repository.git("log", "-1", "--format=%s", "main") == "another writer")
        #expect(try repository.git("rev-parse", "main^") == before)
        #expect(try repository.read("notes.txt") == "one\ntwo\nthree\n")
        #expect(try repository.git("status", "--porcelain", "--untracked-files=no").isEmpty)
    }
}
