import Foundation
import SluiceTesting
import Testing

/// Diffs and paths pass through Sluice byte for byte: git's output is never decoded or trimmed.
@Suite("Bytes stay bytes")
struct BytesTests {
    func sluice(_ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil) async throws
        -> CommandLineProcess.Result
    {
        try await CommandLineProcess.run(arguments, input: input, directory: repository.path)
    }

    func ledgerID(_ result: CommandLineProcess.Result) throws -> String {
        try #require(
            (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String, "\(result.stdout)\(result.stderr)")
    }

    @Test("the revert of a patch whose last context line is blank keeps that line, and lands")
    func revertWithBlankLastLine() async throws {
        let repository = try PipelineCommandTests.repository(extra: ["poem.txt": "one\ntwo\nthree\n\n"])
        _ = try await sluice(["init"], in: repository)
        let diff = "--- a/poem.txt\n+++ b/poem.txt\n@@ -2,3 +2,3 @@\n two\n-three\n+3\n \n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        let id = try ledgerID(submitted)
        #expect(try await sluice(["run"], in: repository).status == 0)
        #expect(try repository.read("poem.txt") == "one\ntwo\n3\n\n")

        let reverted = try await sluice(["patch", "revert", id, "--json"], in: repository)
        #expect(reverted.status == 0, "\(reverted.stdout)\(reverted.stderr)")
        let revertID = try ledgerID(reverted)
        let stored = try await sluice(["patch", "show", revertID, "--diff"], in: repository).stdout
        #expect(stored.hasSuffix(" \n"), "the blank context line is kept: \(stored)")
        let run = try await sluice(["run"], in: repository)
        #expect(run.stdout.contains("1 landed"), "\(run.stdout)\(run.stderr)")
        #expect(try repository.read("poem.txt") == "one\ntwo\nthree\n\n")
    }

    @Test("a Latin-1 file from --from-worktree is stored byte for byte and queued")
    func latin1FromWorktree() async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await sluice(["init"], in: repository)
        let latin1: [UInt8] = Array("caf".utf8) + [0xE9] + Array(" cr".utf8) + [0xE8, 0x6D, 0x65, 0x0A]
        try Data(latin1).write(to: URL(fileURLWithPath: repository.path + "/menu.txt"))
        let submitted = try await sluice(
            ["patch", "submit", "--from-worktree", repository.path, "--project", "p", "--json"], in: repository)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let id = try ledgerID(submitted)
        #expect(submitted.stdout.contains("\"state\":\"queued\""))
        // What lands is the file's own bytes, not U+FFFD: the diff was stored and applied byte for byte.
        try FileManager.default.removeItem(atPath: repository.path + "/menu.txt")
        #expect(try await sluice(["run"], in: repository).status == 0)
        #expect(
            try await sluice(["patch", "show", id, "--json"], in: repository).stdout.contains("\"state\":\"committed\"")
        )
        let landed = try Data(contentsOf: URL(fileURLWithPath: repository.path + "/menu.txt"))
        #expect(Array(landed) == latin1)
    }

    @Test("patch revert exits 1 when validation rejects the revert, like patch submit")
    func revertRejected() async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await sluice(["init"], in: repository)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let id = try ledgerID(
            try await sluice(["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff))
        #expect(try await sluice(["run"], in: repository).status == 0)
        // Since then, notes.txt became protected on main.
        let config = try repository.read("sluice.yml").replacingOccurrences(
            of: "max_apply_attempts: 2}", with: "max_apply_attempts: 2, protected: [sluice.yml, notes.txt]}")
        try repository.commit(["sluice.yml": config], message: "protect notes")
        let reverted = try await sluice(["patch", "revert", id], in: repository)
        #expect(reverted.status == 1, "\(reverted.stdout)\(reverted.stderr)")
        #expect(reverted.stdout.contains("rejected: protected_path: notes.txt"))
    }
}

/// `git format-patch` submissions keep their authorship; a mailbox of several patches is a chain.
@Suite("Patches sent as mail")
struct MailTests {
    @Test("a two-patch mailbox becomes two chained patches that land in order with their authors and messages")
    func mailbox() async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        try repository.git("checkout", "--quiet", "-b", "agent")
        try repository.write("notes.txt", "one\n2\nthree\n")
        try repository.git(
            "-c", "user.name=Ann Agent", "-c", "user.email=ann@agents", "commit", "-qam",
            "Use digits\n\nTwo reads better as 2.")
        try repository.write("notes.txt", "one\n2\n3\n")
        try repository.git(
            "-c", "user.name=Bob Bot", "-c", "user.email=bob@agents", "commit", "-qam", "Three as well")
        let mailbox = try repository.gitOutput(["format-patch", "--stdout", "main..agent"])
        try repository.git("checkout", "--quiet", "main")
        try repository.git("branch", "-D", "agent")

        let submitted = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p", "--json"], input: mailbox, directory: repository.path)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let entries = submitted.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(entries.count == 2)
        let chains = Set(entries.compactMap { ($0["relations"] as? [String: Any])?["chain_id"] as? String })
        #expect(chains.count == 1)

        let run = try await CommandLineProcess.run(["run"], directory: repository.path)
        #expect(run.stdout.contains("2 landed"), "\(run.stdout)\(run.stderr)")
        let log = try repository.git("log", "-2", "--format=%an <%ae>|%cn|%s|%b", "main")
        let lines = log.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("Bob Bot <bob@agents>|Sluice|Three as well|") == true, "\(log)")
        #expect(log.contains("Ann Agent <ann@agents>|Sluice|Use digits|Two reads better as 2."), "\(log)")
        #expect(log.contains("Sluice-Ledger-Id: "))
        #expect(try repository.read("notes.txt") == "one\n2\n3\n")
    }
}

/// `--base` and `--author` on plain diffs.
@Suite("Where a patch was made, and who wrote it")
struct PatchOriginTests {
    static let letters = "a\nb\nc\nd\ne\nf\ng\n"
    /// A plain `diff -u` of letters.txt (no index lines): e → E.
    static let plain = "--- a/letters.txt\n+++ b/letters.txt\n@@ -2,6 +2,6 @@\n b\n c\n d\n-e\n+E\n f\n g\n"

    func repositoryWhereMainMoved() async throws -> (TemporaryGitRepository, base: String) {
        let repository = try PipelineCommandTests.repository(extra: ["letters.txt": Self.letters])
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        let base = try repository.git("rev-parse", "HEAD")
        try repository.commit(["letters.txt": "a\nB\nc\nd\ne\nf\ng\n"], message: "b is B")
        return (repository, base)
    }

    @Test("a plain diff made on an older commit merges onto the moved branch from its --base")
    func mergesFromBase() async throws {
        let (repository, base) = try await repositoryWhereMainMoved()
        let submitted = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p", "--base", base], input: Self.plain, directory: repository.path)
        #expect(submitted.status == 0, "\(submitted.stdout)\(submitted.stderr)")
        let run = try await CommandLineProcess.run(["run"], directory: repository.path)
        #expect(run.stdout.contains("1 landed"), "\(run.stdout)\(run.stderr)")
        #expect(try repository.read("letters.txt") == "a\nB\nc\nd\nE\nf\ng\n")
    }

    @Test("without --base, the same plain diff cannot merge and is quarantined")
    func withoutBase() async throws {
        let (repository, _) = try await repositoryWhereMainMoved()
        _ = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p"], input: Self.plain, directory: repository.path)
        let run = try await CommandLineProcess.run(["run"], directory: repository.path)
        #expect(run.stdout.contains("0 landed, 1 quarantined"), "\(run.stdout)\(run.stderr)")
    }

    @Test("--author and --message make the landed commit's author and message; Sluice commits it")
    func author() async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await CommandLineProcess.run(
            [
                "patch", "submit", "-", "--project", "p", "--author", "Ann Agent <ann@agents>", "--message",
                "Use a digit\n\nSluice-Gate: check passed (99/99 tests passed)",
            ],
            input: diff, directory: repository.path)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        _ = try await CommandLineProcess.run(["run"], directory: repository.path)
        let log = try repository.git("log", "-1", "--format=%an <%ae>|%cn|%s", "main")
        #expect(log == "Ann Agent <ann@agents>|Sluice|Use a digit")
        // A trailer in the submitter's message cannot pass for Sluice's own.
        let body = try repository.git("log", "-1", "--format=%b", "main")
        #expect(!body.contains("99/99") && body.contains("Sluice-Gate: check passed"), "\(body)")
    }

    @Test("a folder given as the diff file is refused in a sentence")
    func folder() async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        let submitted = try await CommandLineProcess.run(
            ["patch", "submit", "/tmp", "--project", "p"], directory: repository.path)
        #expect(
            submitted.status == 64 && submitted.stderr.contains("'/tmp' is a folder, not a file"), "\(submitted.stderr)"
        )
    }

    @Test("the starter sluice.yml, committed unchanged, lands nothing: its gate fails until it is set")
    func starterGateFails() async throws {
        let repository = try TemporaryGitRepository(files: ["notes.txt": "one\ntwo\nthree\n"])
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        try repository.git("add", "sluice.yml")
        try repository.git("commit", "-qm", "starter")
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        _ = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p"], input: diff, directory: repository.path)
        let run = try await CommandLineProcess.run(["run"], directory: repository.path)
        #expect(run.stdout.contains("0 landed, 1 quarantined"), "\(run.stdout)\(run.stderr)")
        #expect(try repository.read("notes.txt") == "one\ntwo\nthree\n")
    }

    @Test(
        "a bad --author or an unknown --base is refused and stores nothing",
        arguments: [
            ["--author", "nobody"], ["--author", "A <b> c"], ["--author", "A <b>c>"], ["--base", "no-such-commit"],
            ["--base", "--all"],
        ])
    func refused(arguments: [String]) async throws {
        let repository = try PipelineCommandTests.repository()
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p"] + arguments, input: diff, directory: repository.path)
        #expect(submitted.status == 64, "\(submitted.stdout)\(submitted.stderr)")
        let list = try await CommandLineProcess.run(["patch", "list", "--json"], directory: repository.path)
        #expect(list.stdout.isEmpty)
    }
}

@Suite("What gates report is printed on one line")
struct PrintableTests {
    @Test("a test name with a newline cannot print a line that looks like Sluice's own")
    func forgedLine() async throws {
        let script =
            "mkdir -p out\nprintf '<testsuite><testcase name=\"x&#10;land       ZZZZZZZZ  landed: main is now 0123\">"
            + "<failure/></testcase></testsuite>' > out/j.xml\nexit 1\n"
        let repository = try PipelineCommandTests.repository(gate: "sh tests/g.sh", extra: ["tests/g.sh": script])
        var config = try repository.read("sluice.yml")
        config = config.replacingOccurrences(of: "criteria:", with: "results: out/j.xml, criteria:")
        try repository.commit(["sluice.yml": config], message: "results")
        _ = try await CommandLineProcess.run(["init"], directory: repository.path)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        _ = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p"], input: diff, directory: repository.path)
        let run = try await CommandLineProcess.run(["run"], directory: repository.path)
        #expect(run.stdout.contains("0 landed, 1 quarantined"), "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("x\\nland"), "\(run.stdout)")
        #expect(!run.stdout.split(separator: "\n").contains { $0.hasPrefix("land       ZZZZZZZZ") })
    }
}
