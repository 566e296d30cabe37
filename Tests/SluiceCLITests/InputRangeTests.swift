import Foundation
import SluiceTesting
import Testing

/// Every number from sluice.yml or a flag has a range, checked when it is parsed.
@Suite("Bad input is bounded: numbers")
struct InputRangeTests {
    // MARK: - Numbers in sluice.yml

    @Test("a timeout_seconds beyond its range in sluice.yml is refused when read, naming the range; run does not crash")
    func hugeTimeoutInConfig() async throws {
        let repository = try BoundsFixture.repository(
            config: """
                target_branch: main
                gates:
                  - {name: check, command: "true", criteria: {timeout_seconds: 9223372036854775807}}

                """)
        #expect(try await BoundsFixture.sluice(["init"], in: repository).status == 0)
        let submitted = try await BoundsFixture.sluice(
            ["patch", "submit", "-", "--project", "p"], in: repository, input: BoundsFixture.diff)
        #expect(submitted.status == 64, "\(submitted.stdout)\n\(submitted.stderr)")
        #expect(submitted.stderr.contains("timeout_seconds must be a whole number from 1 to 604800"))
        #expect(try await BoundsFixture.patches(in: repository).isEmpty)
        let run = try await BoundsFixture.sluice(["run"], in: repository)
        #expect(run.status == 64, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("timeout_seconds"))
    }

    // MARK: - Numbers on the command line

    @Test(
        "every numeric flag has a range checked when parsed",
        arguments: [
            (
                ["gate", "create", "--name", "g", "--type", "lint", "--timeout", "9223372036854775807"],
                "timeout_seconds"
            ),
            (
                ["gate", "create", "--name", "g", "--type", "lint", "--max-failures", "9223372036854775807"],
                "max_failures"
            ),
            (["gate", "create", "--name", "g", "--type", "lint", "--min-coverage", "nan"], "min_coverage"),
            (["worker", "stale", "--timeout", "1e300"], "--timeout"),
            (["events", "--limit", "9223372036854775807"], "limit"),
            (["events", "--after=-5"], "--after"),
            (["cost", "list", "--limit", "9223372036854775807"], "limit"),
            (
                [
                    "worker", "create", "--type", "executor", "--config",
                    #"{"max_parallel_tasks": 9223372036854775807}"#,
                ],
                "max_parallel_tasks"
            ),
            (
                [
                    "worker", "create", "--type", "executor", "--config",
                    #"{"heartbeat_interval": 9223372036854775807}"#,
                ],
                "heartbeat_interval"
            ),
            (
                ["worker", "create", "--type", "executor", "--config", #"{"timeout_seconds": 9223372036854775807}"#],
                "timeout_seconds"
            ),
        ])
    func numericFlags(arguments: [String], name: String) async throws {
        let cli = CLIHarness()
        #expect(try await cli.process(["init"]).status == 0)
        let output = try await cli.process(arguments)
        #expect(output.status == 64, "\(output.stdout)\n\(output.stderr)")
        #expect(output.stderr.hasPrefix("error: ") && output.stderr.contains(name), "\(output.stderr)")
        #expect(output.stdout.isEmpty)
        #expect(try await cli.process(["events", "--json"]).stdout.isEmpty, "something was recorded")
    }

    @Test("a gate's exit code and results are bounded")
    func gateCompletionBounds() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let created = try await cli.process(["gate", "create", "--name", "g", "--type", "lint", "--json"])
        let gate = try #require(try created.object()["gate_id"] as? String)
        #expect(try await cli.process(["gate", "start", gate]).status == 0)
        let exit = try await cli.process(["gate", "complete", gate, "--exit-code", "9223372036854775807"])
        #expect(exit.status == 64 && exit.stderr.contains("--exit-code"), "\(exit.stderr)")
        let duration = try await cli.process(
            ["gate", "complete", gate, "--results", "-"],
            input: #"{"test_cases": [{"name": "a", "status": "passed", "duration_seconds": 1e300}]}"#)
        #expect(duration.status == 64 && duration.stderr.contains("duration"), "\(duration.stderr)")
        #expect(try await cli.process(["gate", "show", gate, "--json"]).object()["state"] as? String == "running")
    }

    // MARK: - Worker seconds

    @Test("a task's seconds are bounded, so a worker's statistics stay finite and its JSON readable")
    func workerSeconds() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let created = try await cli.process(["worker", "create", "--type", "executor", "--json"])
        let worker = try #require(try created.object()["worker_id"] as? String)
        for _ in 0..<2 {
            #expect(try await cli.process(["worker", "assign", worker, "--task", "T"]).status == 0)
            let done = try await cli.process(["worker", "complete", worker, "--seconds=1.7e308"])
            #expect(done.status == 64, "\(done.stdout)\n\(done.stderr)")
            #expect(done.stderr.contains("31536000"), "\(done.stderr)")
            #expect(try await cli.process(["worker", "complete", worker, "--seconds", "2.5"]).status == 0)
        }
        let shown = try await cli.process(["worker", "show", worker, "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        let statistics = try #require(try shown.object()["statistics"] as? [String: Any])
        #expect(statistics["total_execution_time"] as? Double == 5)
        #expect(try await cli.process(["export", "--kind", "workers"]).status == 0)
    }
}
