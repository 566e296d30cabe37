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
    ) throws -> CommandLineProcess.Result {
        try CommandLineProcess.run(arguments, input: input, environment: environment, directory: repository.path)
    }

    /// A `git` that, the first time it is asked to `update-ref`, commits on the checked-out branch
    /// first (with the real git), then does what it was asked.
    static func racingGit(in directory: TemporaryDirectory) throws -> String {
        let real = try #require(
            ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        let fired = directory.file("fired")
        let bin = directory.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            if [ "$1" = "update-ref" ] && [ ! -e \(fired) ]; then
                touch \(fired)
                \(real) commit --quiet --allow-empty -m "another writer" || exit 99
            fi
            exec \(real) "$@"

            """
        let path = bin + "/git"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return bin
    }

    @Test("the swap fails: the run exits 1 naming the patch set aside, and the other writer's commit stays")
    func updateRefLoses() throws {
        let scratch = TemporaryDirectory()
        let bin = try Self.racingGit(in: scratch)
        let repository = try PipelineCommandTests.repository()
        #expect(try sluice(["init"], in: repository).status == 0)
        let before = try repository.git("rev-parse", "main")
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try sluice(["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String)

        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let run = try sluice(["run"], in: repository, environment: ["PATH": path])
        #expect(FileManager.default.fileExists(atPath: scratch.file("fired")), "update-ref was never run")
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("main moved while the patch was landing; resubmit it"), "\(run.stdout)")
        let shown = try sluice(["patch", "show", id, "--json"], in: repository).stdout
        #expect(shown.contains("\"state\":\"quarantined\""))
        #expect(try repository.git("log", "-1", "--format=%s", "main") == "another writer")
        #expect(try repository.git("rev-parse", "main^") == before)
        #expect(try repository.read("notes.txt") == "one\ntwo\nthree\n")
        #expect(try repository.git("status", "--porcelain", "--untracked-files=no").isEmpty)
    }
}
