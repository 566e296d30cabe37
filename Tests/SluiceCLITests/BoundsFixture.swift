import Foundation
import SluiceTesting
import Testing

/// Real repositories and the real binary for the tests of bad input: each case must give a clear
/// error, a non-zero exit, and change nothing.
enum BoundsFixture {
    static let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"

    /// A repository with `notes.txt` and, when given, `sluice.yml`, committed on main.
    static func repository(config: String?) throws -> TemporaryGitRepository {
        var files = ["notes.txt": "one\ntwo\nthree\n"]
        if let config { files["sluice.yml"] = config }
        return try TemporaryGitRepository(files: files)
    }

    /// Runs the binary in the repository.
    static func sluice(_ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil) async throws
        -> CommandLineProcess.Result
    {
        try await CommandLineProcess.run(arguments, input: input, directory: repository.path)
    }

    /// The ledger entries, as JSON Lines.
    static func patches(in repository: TemporaryGitRepository) async throws -> [Substring] {
        let listed = try await sluice(["patch", "list", "--json"], in: repository)
        #expect(listed.status == 0, "\(listed.stderr)")
        return listed.stdout.split(separator: "\n")
    }
}
