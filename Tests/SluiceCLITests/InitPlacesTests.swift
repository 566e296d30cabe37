import Foundation
import SluiceTesting
import Testing

/// `sluice init` where there is no ordinary working tree.
@Suite("Bad input is bounded: where init runs")
struct InitPlacesTests {
    @Test("init in a linked worktree sets it up, with the exclusion in the common git folder")
    func initInLinkedWorktree() async throws {
        let repository = try BoundsFixture.repository(config: nil)
        let other = TemporaryDirectory(prefix: "sluice-linked")
        let linked = other.file("wt")
        try repository.git("worktree", "add", "--quiet", "-b", "agent", linked)
        let result = try await CommandLineProcess.run(["init"], directory: linked)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(!result.stderr.contains("NSCocoaErrorDomain"))
        #expect(FileManager.default.fileExists(atPath: linked + "/.sluice/sluice.db"))
        #expect(try repository.read(".git/info/exclude").contains("/.sluice/"))
        #expect(try repository.git("-C", linked, "status", "--porcelain").contains(".sluice") == false)
        let worker = try await CommandLineProcess.run(["worker", "create", "--type", "executor"], directory: linked)
        #expect(worker.status == 0, "\(worker.stderr)")
    }

    @Test("init in a bare repository says what to do and creates nothing")
    func initInBareRepository() async throws {
        let directory = TemporaryDirectory(prefix: "sluice-bare")
        let bare = directory.file("repo.git")
        let created = try await CommandLineProcess.runProgram(
            "/usr/bin/env", ["git", "init", "--quiet", "--bare", bare])
        #expect(created.status == 0)
        let result = try await CommandLineProcess.run(["init"], directory: bare)
        #expect(result.status == 64, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("bare") && result.stderr.contains("git worktree add"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: bare + "/.sluice"))
    }

    @Test("init outside git creates the ledger and says what the pipeline needs")
    func initOutsideGit() async throws {
        let directory = TemporaryDirectory(prefix: "sluice-plain")
        let result = try await CommandLineProcess.run(["init"], directory: directory.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("not inside a git repository") && result.stdout.contains("git init"))
    }
}
