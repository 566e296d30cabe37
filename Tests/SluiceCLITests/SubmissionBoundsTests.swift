import Foundation
import SluiceTesting
import Testing

/// A submission that is refused stores nothing.
@Suite("Bad input is bounded: submissions")
struct SubmissionBoundsTests {
    // MARK: - Patch size

    @Test("a diff larger than policy.max_patch_bytes is refused while it is read, and nothing is stored")
    func patchTooLarge() async throws {
        let repository = try BoundsFixture.repository(
            config: """
                target_branch: main
                gates: [{name: check, command: "true"}]
                policy: {max_patch_bytes: 1024}

                """)
        #expect(try await BoundsFixture.sluice(["init"], in: repository).status == 0)
        let big = BoundsFixture.diff + String(repeating: "# padding\n", count: 200)
        let fromInput = try await BoundsFixture.sluice(
            ["patch", "submit", "-", "--project", "p"], in: repository, input: big)
        #expect(fromInput.status == 64, "\(fromInput.stdout)\n\(fromInput.stderr)")
        #expect(fromInput.stderr.contains("max_patch_bytes") && fromInput.stderr.contains("1024"))
        let file = repository.directory.file("big.diff")
        try big.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await BoundsFixture.sluice(["patch", "submit", file, "--project", "p"], in: repository)
        #expect(fromFile.status == 64 && fromFile.stderr.contains("max_patch_bytes"), "\(fromFile.stderr)")
        #expect(try await BoundsFixture.patches(in: repository).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: repository.directory.file(".sluice/quarantine")))
        // Within the limit, the same repository takes a diff.
        #expect(
            try await BoundsFixture.sluice(
                ["patch", "submit", "-", "--project", "p"], in: repository, input: BoundsFixture.diff
            ).status == 0)
    }

    // MARK: - Failed submissions

    @Test("a submission that fails on the configuration or the repository stores nothing")
    func failedSubmissionStoresNothing() async throws {
        let invalid = try BoundsFixture.repository(config: "gates: [unclosed\n")
        #expect(try await BoundsFixture.sluice(["init"], in: invalid).status == 0)
        for _ in 0..<2 {
            let submitted = try await BoundsFixture.sluice(
                ["patch", "submit", "-", "--project", "p"], in: invalid, input: BoundsFixture.diff)
            #expect(submitted.status == 64 && submitted.stderr.contains("sluice.yml"), "\(submitted.stderr)")
        }
        #expect(try await BoundsFixture.patches(in: invalid).isEmpty)

        let empty = TemporaryDirectory(prefix: "sluice-empty")
        _ = try await CommandLineProcess.runProgram(
            "/usr/bin/env", ["git", "init", "--quiet", "--initial-branch=main"], directory: empty.path)
        #expect(try await CommandLineProcess.run(["init"], directory: empty.path).status == 0)
        let submitted = try await CommandLineProcess.run(
            ["patch", "submit", "-", "--project", "p"], input: BoundsFixture.diff, directory: empty.path)
        #expect(submitted.status == 64 && submitted.stderr.contains("main"), "\(submitted.stderr)")
        let listed = try await CommandLineProcess.run(["patch", "list", "--json"], directory: empty.path)
        #expect(listed.status == 0 && listed.stdout.isEmpty, "\(listed.stdout)")
    }
}
