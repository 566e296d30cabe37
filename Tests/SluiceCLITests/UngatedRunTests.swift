import Foundation
import SluiceTesting
import Testing

/// A run lands nothing without a gate unless sluice.yml allows it.
@Suite("Bad input is bounded: ungated landing")
struct UngatedRunTests {
    @Test(
        "a target branch without gates blocks the run unless allow_ungated is set; the queue is left as it is",
        arguments: [nil, "target_branch: main\ngates: []\n"])
    func ungated(config: String?) async throws {
        let repository = try BoundsFixture.repository(config: config)
        #expect(try await BoundsFixture.sluice(["init"], in: repository).status == 0)
        // init wrote a starter sluice.yml into the working tree; the branch's (none, or no gates) decides.
        try? FileManager.default.removeItem(atPath: repository.directory.file("sluice.yml"))
        if config != nil { try repository.git("checkout", "--quiet", "--", "sluice.yml") }
        let submitted = try await BoundsFixture.sluice(
            ["patch", "submit", "-", "--project", "p"], in: repository, input: BoundsFixture.diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let head = try repository.git("rev-parse", "main")
        let run = try await BoundsFixture.sluice(["run"], in: repository)
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("allow_ungated: true") && run.stderr.contains("add gates"), "\(run.stderr)")
        #expect(try repository.git("rev-parse", "main") == head)
        #expect(try await BoundsFixture.patches(in: repository).allSatisfy { $0.contains("\"state\":\"queued\"") })

        try repository.commit(["sluice.yml": "target_branch: main\nallow_ungated: true\n"], message: "ungated")
        let allowed = try await BoundsFixture.sluice(["run"], in: repository)
        #expect(allowed.status == 0, "\(allowed.stdout)\n\(allowed.stderr)")
        #expect(try repository.read("notes.txt") == "one\n2\nthree\n")
    }
}
