import Foundation
import SluiceTesting
import Testing

/// `flaky: {reruns: N}` through the binary: `sluice run` on a red branch, `sluice status`, `sluice tests flaky`.
@Suite("Flake verdict commands")
struct FlakyCommandTests {
    func sluice(_ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil) async throws
        -> CommandLineProcess.Result
    {
        try await CommandLineProcess.run(arguments, input: input, directory: repository.path)
    }

    @Test("a red branch: run exits 1 blaming no patch, status says red, and a fixed branch lets the patch land")
    func redBranch() async throws {
        let repository = try PipelineCommandTests.repository(
            gate: "! grep -qs RED notes.txt", settings: "flaky: {reruns: 1}", extra: ["notes.txt": "RED\n"])
        #expect(try await sluice(["init"], in: repository).status == 0)
        let diff = "--- a/tests/test_notes.sh\n+++ b/tests/test_notes.sh\n@@ -1 +1,2 @@\n exit 0\n+# more\n"
        let submitted = try await sluice(["patch", "submit", "-", "--project", "notes"], in: repository, input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 1 && run.stdout.contains("stopped: the target branch is red"), "\(run.stdout)")
        #expect(run.stdout.contains("0 landed, 0 quarantined"), "\(run.stdout)")
        let status = try await sluice(["status"], in: repository)
        #expect(status.stdout.contains("1 queued") && status.stdout.contains("red: the target branch at"))
        #expect(try await sluice(["status", "--json"], in: repository).stdout.contains("\"red_branch\":"))
        try repository.commit(["notes.txt": "fixed\n"], message: "fix main")
        let again = try await sluice(["run"], in: repository)
        #expect(again.status == 0 && again.stdout.contains("summary: 1 landed"), "\(again.stdout)")
        #expect(try await !sluice(["status"], in: repository).stdout.contains("red:"))
        #expect(try await sluice(["tests", "flaky"], in: repository).stdout == "no flaky tests\n")
    }

    @Test("a gate that fails once and passes on its rerun is listed by sluice tests flaky, as text and JSON")
    func flakyListed() async throws {
        // Each rerun starts from scratch (a new workspace, an empty cache): the count is kept outside, unsealed.
        let counter = TemporaryDirectory(prefix: "sluice-flaky")
        let ran = counter.file("ran")
        let repository = try PipelineCommandTests.repository(
            gate: "test -e \(ran) || { touch \(ran); exit 1; }", settings: "flaky: {reruns: 1}\nsandbox: none")
        #expect(try await sluice(["init"], in: repository).status == 0)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        #expect(
            try await sluice(["patch", "submit", "-", "--project", "notes"], in: repository, input: diff).status == 0)
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 0 && run.stdout.contains("summary: 1 landed") && run.stdout.contains("flaky"))
        let listed = try await sluice(["tests", "flaky"], in: repository).stdout
        #expect(listed.contains("TEST") && listed.contains("check") && listed.contains("50.0%"), "\(listed)")
        let json = try await sluice(["tests", "flaky", "--json"], in: repository).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["test"] as? String == "check" && object["flakes"] as? Int == 1 && object["runs"] as? Int == 2)
        #expect(object["failure_rate"] as? Double == 0.5 && object["last_seen"] is String)
    }

    @Test("sluice tests quarantine and unquarantine: a person's decision, recorded, listed, and refused on bad input")
    func quarantineByHand() async throws {
        let gate =
            "printf '<testsuite><testcase classname=\"cache\" name=\"evicts\"><failure/></testcase>"
            + "<testcase classname=\"calc\" name=\"adds\"/></testsuite>' > results.xml"
        let config = """
            target_branch: main
            gates:
              - {name: check, type: custom, command: '\(gate.replacingOccurrences(of: "'", with: "''"))', results: results.xml, criteria: {timeout_seconds: 120}}
              - {name: lint, type: custom, command: 'true', criteria: {timeout_seconds: 120}}
            policy: {tests: ["tests/**"], max_apply_attempts: 2}
            logs: {grace_seconds: 1}
            """
        let repository = try PipelineCommandTests.repository(extra: ["sluice.yml": config])
        #expect(try await sluice(["init"], in: repository).status == 0)
        // Bad input changes nothing: no --by, Sluice's own name, a gate without results, an unknown gate.
        for arguments in [
            ["tests", "quarantine", "cache.evicts"],
            ["tests", "quarantine", "cache.evicts", "--by", "sluice"],
            ["tests", "quarantine", "cache.evicts", "--by", "ana", "--gate", "lint"],
            ["tests", "quarantine", "cache.evicts", "--by", "ana", "--gate", "nope"],
            ["tests", "unquarantine", "cache.evicts", "--by", "ana"],
        ] {
            let refused = try await sluice(arguments, in: repository)
            #expect(refused.status != 0 && !refused.stderr.isEmpty, "\(arguments): \(refused.stdout)")
        }
        #expect(try await sluice(["tests", "quarantined"], in: repository).stdout == "no quarantined tests\n")
        // The only gate with results is the default; the name was never seen in a run, so it warns.
        let held = try await sluice(
            ["tests", "quarantine", "cache.evicts", "--by", "ana", "--reason", "evicts at random"], in: repository)
        #expect(held.status == 0 && held.stdout.contains("quarantined cache.evicts of gate check"), "\(held.stderr)")
        #expect(held.stderr.contains("warning: no recent run of gate check reported"), "\(held.stderr)")
        let again = try await sluice(["tests", "quarantine", "cache.evicts", "--by", "bo"], in: repository)
        #expect(again.status != 0 && again.stderr.contains("quarantined already, by ana"), "\(again.stderr)")
        // Its failure no longer decides: the patch lands.
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        #expect(
            try await sluice(["patch", "submit", "-", "--project", "notes"], in: repository, input: diff).status == 0)
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 0 && run.stdout.contains("summary: 1 landed"), "\(run.stdout)")
        let listed = try await sluice(["tests", "quarantined"], in: repository).stdout
        #expect(try await sluice(["status"], in: repository).stdout.contains(" · 1 quarantined tests"))
        #expect(listed.contains("cache.evicts") && listed.contains("ana") && listed.contains("evicts at random"))
        let released = try await sluice(["tests", "unquarantine", "cache.evicts", "--by", "bo"], in: repository)
        #expect(released.status == 0 && released.stdout.contains("released cache.evicts of gate check"))
        #expect(try await sluice(["tests", "quarantined"], in: repository).stdout == "no quarantined tests\n")
        let json = try await sluice(["tests", "quarantined", "--all", "--json"], in: repository).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["quarantined"] as? Bool == false && object["quarantined_by"] as? String == "ana")
        #expect(object["released_by"] as? String == "bo" && object["automatic"] as? Bool == false)
        let events = try await sluice(["events", "--entity", "tests/check/cache.evicts"], in: repository).stdout
        #expect(events.contains("quarantined") && events.contains("deciding"), "\(events)")
    }
}
