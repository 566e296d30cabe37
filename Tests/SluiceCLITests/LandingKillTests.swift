import Foundation
import SluiceTesting
import Testing

/// `sluice run` killed with SIGKILL at each git step of landing, then run again: the branch, the
/// ledger and the checked-out working tree end consistent, with no step from the user.
@Suite("Landing survives a kill at every git step")
struct LandingKillTests {
    func sluice(
        _ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> CommandLineProcess.Result {
        try await CommandLineProcess.run(arguments, input: input, environment: environment, directory: repository.path)
    }

    @Test(
        "killed before or after each git step of landing, the next run finishes it exactly once",
        arguments: [
            ("commit-tree", true), ("update-ref", false), ("update-ref", true), ("read-tree", false),
            ("read-tree", true),
        ])
    func killed(command: String, after: Bool) async throws {
        let scratch = TemporaryDirectory()
        // Kills its caller (the `sluice run`) once, before or after the real git runs `command`.
        let git = try InterferingGit(
            in: scratch, firstTime: command, action: (after ? "\"$REAL_GIT\" \"$@\"; " : "") + "kill -9 $PPID; exit 1")
        let repository = try PipelineCommandTests.repository()
        #expect(try await sluice(["init"], in: repository).status == 0)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String)

        let killed = try await sluice(["run"], in: repository, environment: ["PATH": git.path])
        #expect(git.fired, "the step never ran")
        #expect(killed.status != 0)

        let again = try await sluice(["run"], in: repository)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(
            try await sluice(["patch", "show", id, "--json"], in: repository).stdout.contains("\"state\":\"committed\"")
        )
        let log = try repository.git("log", "--format=%B", "main")
        #expect(log.components(separatedBy: "Sluice-Ledger-Id: \(id)").count == 2, "landed exactly once")
        // The checkout followed its branch: nothing looks uncommitted, and the file is the landed one.
        #expect(try repository.git("status", "--porcelain", "--untracked-files=no").isEmpty)
        #expect(try repository.read("notes.txt") == "one\n2\nthree\n")

        // And the queue goes on: the next patch lands.
        let next = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n-one\n+1\n 2\n three\n"
        #expect(try await sluice(["patch", "submit", "-", "--project", "p"], in: repository, input: next).status == 0)
        let third = try await sluice(["run"], in: repository)
        #expect(third.status == 0 && third.stdout.contains("1 landed"), "\(third.stdout)\n\(third.stderr)")
        #expect(try repository.read("notes.txt") == "1\n2\nthree\n")
    }
}
