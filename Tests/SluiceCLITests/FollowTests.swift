import Foundation
import SluiceTesting
import Testing

/// `sluice events --follow` under concurrent writers, on the harness's backend.
@Suite("Following the event log")
struct FollowTests {
    @Test("a follower started before racing writers prints every event exactly once, in sequence order")
    func followerSeesEverything() async throws {
        let cli = await CLIHarness().initialise()
        let writers = 4
        let patchesPerWriter = 8
        // Each patch: created, then validated (failed validation is apply_failed): two events.
        let expected = writers * patchesPerWriter * 2
        async let followed = cli.run([
            "events", "--follow", "--json", "--interval", "0.01", "--limit", String(expected),
        ])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for index in 0..<patchesPerWriter {
                        let created = try await cli.object(["patch", "create", "--project", "w\(writer)-\(index)"])
                        let id = try #require(created["ledger_id"] as? String)
                        let validated = await cli.run(["patch", "validate", id, "--format-ok", "--scope-ok"])
                        #expect(validated.status == 1, "\(validated.stderr)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let output = await followed
        #expect(output.status == 0, "\(output.stderr)")
        let seen = try output.lines()
        let sequences = seen.compactMap { ($0["sequence"] as? NSNumber)?.int64Value }
        #expect(sequences.count == expected)
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        // Exactly the log as it stands afterwards: nothing skipped, nothing invented.
        let log = try await cli.run(["events", "--json"]).lines()
        #expect(log.compactMap { ($0["sequence"] as? NSNumber)?.int64Value } == sequences)
    }

    @Test("--follow's interval is checked")
    func badInterval() async {
        let cli = await CLIHarness().initialise()
        let output = await cli.run(["events", "--follow", "--interval", "0"])
        #expect(output.status == 64)
        #expect(output.stderr.contains("--interval"))
    }
}
