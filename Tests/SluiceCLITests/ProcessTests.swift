import Foundation
import SluiceTesting
import Testing

/// The real `sluice` binary, run as a process: outputs, exit codes and exported records.
@Suite("The sluice binary")
struct ProcessTests {
    func id(_ output: CLIHarness.Output, _ key: String) throws -> String {
        #expect(output.status == 0, "\(output.stderr)")
        return try #require(try output.object()[key] as? String)
    }

    @Test("a full patch lifecycle")
    func patchLifecycle() async throws {
        let cli = CLIHarness()
        #expect(try await cli.process(["init"]).status == 0)
        let ledger = try id(try await cli.process(["patch", "create", "--project", "demo", "--json"]), "ledger_id")
        for step in [
            ["patch", "validate", ledger, "--format-ok", "--scope-ok", "--constraints-ok"], ["patch", "queue", ledger],
            ["patch", "apply", ledger, "--ok", "--workspace", "/tmp/ws", "--file", "calc.py"],
            ["patch", "verify", ledger, "--passed"], ["patch", "commit", ledger],
        ] {
            let output = try await cli.process(step)
            #expect(output.status == 0, "\(step): \(output.stderr)")
        }
        let shown = try await cli.process(["patch", "show", ledger, "--json"]).object()
        #expect(shown["state"] as? String == "committed")
        #expect((shown["state_history"] as? [Any])?.count == 6)
    }

    @Test("16 processes race one transition: exactly one wins, the others exit 3, and the log has one event")
    func sixteenProcesses() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let ledger = try id(try await cli.process(["patch", "create", "--project", "race", "--json"]), "ledger_id")
        let validated = try await cli.process([
            "patch", "validate", ledger, "--format-ok", "--scope-ok", "--constraints-ok",
        ])
        #expect(validated.status == 0, "\(validated.stderr)")
        // Each contender is its own process, with its own connections; they start together.
        let statuses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<16 {
                group.addTask { try await cli.process(["patch", "queue", ledger]).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 0 }.count == 1, "\(statuses)")
        #expect(statuses.filter { $0 == 3 }.count == 15, "\(statuses)")
        let events = try await cli.process(["events", "--entity", ledger, "--json"]).lines()
        #expect(events.compactMap { $0["to_state"] as? String } == ["created", "validated", "queued"])
    }

    @Test("a gate that fails its criteria exits 1 and says why")
    func failingGate() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let gate = try id(
            try await cli.process([
                "gate", "create", "--name", "unit", "--type", "unit_tests", "--min-coverage", "80", "--json",
            ]),
            "gate_id")
        #expect(try await cli.process(["gate", "start", gate]).status == 0)
        let output = try await cli.process(
            ["gate", "complete", gate, "--results", "-", "--exit-code", "1"],
            input: #"{"coverage_percent": 50, "test_cases": [{"name": "t1", "status": "failed"}]}"#)
        #expect(output.status == 1)
        #expect(output.stdout.contains("failed: max_failures: 1 failed, 0 allowed (t1); min_coverage: 50% < 80%"))
    }

    @Test("cost totals are exact: ten records of 0.1 total 1")
    func costTotals() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        for _ in 0..<10 {
            #expect(try await cli.process(["cost", "record", "--type", "api_call", "--amount", "0.1"]).status == 0)
        }
        let totals = try await cli.process(["cost", "total", "--json"])
        #expect(totals.stdout == #"{"amount":1,"count":10,"currency":"USD","unpriced":0}"# + "\n")
    }

    @Test(
        "errors: one sentence on standard error and the exit code DESIGN.md gives",
        arguments: [
            (
                ["worker", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], Int32(4),
                "error: no worker with id 01ARZ3NDEKTSV4RRFFQ69G5FAV\n"
            ),
            (
                ["cost", "record", "--type", "api_call", "--amount", "1", "--currency", "dollars"], Int32(64),
                "error: 'dollars' is not a currency code: ISO 4217 codes are three upper-case letters, such as USD\n"
            ),
            (
                ["cost", "record", "--type", "api_call", "--amount", "-3"], Int32(64),
                "error: amount must not be negative, got -3\n"
            ),
            (
                ["worker", "create", "--type", "executor", "--metadata", "{\"a\":"], Int32(64),
                "error: invalid JSON in --metadata"
            ),
            (["patch", "show", "xyz"], Int32(64), "error: invalid patch id: 'xyz' is not a ULID"),
            (["events", "--entity", "nope"], Int32(64), "error: --entity: 'nope' is not a ULID"),
            (["events", "--limit=-1"], Int32(64), "error: limit must be 0 or more, got -1"),
            (
                ["worker", "create", "--type", "executor", "--config", #"{"timeout": 5}"#], Int32(64),
                "error: invalid JSON in --config: unknown field 'timeout'"
            ),
        ])
    func errors(arguments: [String], status: Int32, message: String) async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let output = try await cli.process(arguments)
        #expect(output.status == status)
        #expect(output.stderr.hasPrefix(message), "\(output.stderr)")
        #expect(output.stdout.isEmpty)
    }

    @Test("an invalid transition exits 3 and names both states")
    func invalidTransition() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let ledger = try id(try await cli.process(["patch", "create", "--project", "p", "--json"]), "ledger_id")
        let output = try await cli.process(["patch", "queue", ledger])
        #expect(output.status == 3)
        #expect(
            output.stderr
                == "error: cannot queue patch \(ledger): it is created; queue needs validated or apply_failed\n")
    }

    @Test("the database defaults to .sluice/sluice.db at the repository root, or $SLUICE_DB")
    func defaultDatabase() async throws {
        let repository = TemporaryDirectory(prefix: "sluice-repo")
        try FileManager.default.createDirectory(atPath: repository.file(".git"), withIntermediateDirectories: true)
        let nested = repository.file("src/deep")
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        #expect(try await CommandLineProcess.run(["init"], directory: nested).status == 0)
        #expect(FileManager.default.fileExists(atPath: repository.file(".sluice/sluice.db")))
        #expect(
            try await CommandLineProcess.run(["worker", "create", "--type", "executor"], directory: nested).status == 0)

        let elsewhere = TemporaryDirectory()
        let path = elsewhere.file("env.db")
        #expect(try await CommandLineProcess.run(["init"], environment: ["SLUICE_DB": path]).status == 0)
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test("records exported by the binary validate against schema/ with a real JSON Schema validator")
    func exportValidates() async throws {
        let cli = CLIHarness()
        _ = try await cli.process(["init"])
        let worker = try id(try await cli.process(["worker", "create", "--type", "executor", "--json"]), "worker_id")
        _ = try await cli.process(["worker", "assign", worker, "--task", "T"])
        let crashed = try id(try await cli.process(["worker", "create", "--type", "monitor", "--json"]), "worker_id")
        _ = try await cli.process(["worker", "crash", crashed, "--error", "boom"])
        let ledger = try id(try await cli.process(["patch", "create", "--project", "p", "--json"]), "ledger_id")
        _ = try await cli.process(["patch", "quarantine", ledger, "--reason", "r", "--path", "/q"])
        let gate = try id(
            try await cli.process(["gate", "create", "--name", "g", "--type", "unit_tests", "--json"]), "gate_id")
        _ = try await cli.process(["gate", "start", gate])
        _ = try await cli.process(
            ["gate", "complete", gate, "--results", "-"],
            input: #"{"coverage_percent": 70, "test_cases": [{"name": "a", "classname": "m", "status": "passed"}]}"#)
        _ = try await cli.process(["cost", "record", "--type", "api_call", "--quantity", "3", "--rate", "0.1"])

        var arguments = [Self.repositoryRoot + "/scripts/validate_records.py", Self.repositoryRoot + "/schema"]
        for kind in ["workers", "patches", "gates", "costs"] {
            let output = try await cli.process(["export", "--kind", kind])
            let file = cli.directory.file("\(kind).jsonl")
            try output.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            arguments += [kind, file]
        }
        let validator = try await CommandLineProcess.runProgram("/usr/bin/env", ["python3"] + arguments)
        let text = validator.stdout + validator.stderr
        #expect(validator.status == 0, "\(text)")
        #expect(text.contains("workers: 2 records valid"))
        #expect(text.contains("costs: 1 records valid"))
    }

    /// The package root, found from this source file's path.
    static let repositoryRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()
}
