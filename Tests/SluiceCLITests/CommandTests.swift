import Foundation
import SluiceCLI
import SluiceTesting
import Testing

/// The commands, run in process against a real SQLite file (or PostgreSQL: see ``CLIHarness``).
@Suite("Commands in process")
struct CommandTests {
    @Test("init creates the database and is idempotent")
    func initIdempotent() async throws {
        let cli = CLIHarness()
        let first = try await cli.object(["init"])
        #expect(first["created"] as? Bool == true)
        let migrations =
            CLIHarness.onPostgres
            ? [
                "0001_initial", "0002_copied_events", "0003_shared_event_lock", "0004_settled_bound", "0005_tasks",
                "0006_patch_history", "0007_budgets", "0008_cost_daily", "0009_unpriced",
                "0010_currency_rates", "0011_gate_holds", "0012_patch_priority",
                "0013_test_quarantines",
            ]
            : [
                "0001_initial", "0002_patch_contents", "0003_patch_origin", "0004_tasks", "0005_budgets",
                "0006_cost_daily", "0007_unpriced", "0008_currency_rates", "0009_gate_holds", "0010_patch_priority",
                "0011_test_quarantines",
            ]
        #expect(first["migrations"] as? [String] == migrations)
        let second = await cli.run(["init"])
        #expect(second.status == 0)
        #expect(second.stdout.contains("already initialised"))
    }

    @Test(
        "a command without a database says to run init, and creates nothing",
        .enabled(if: !CLIHarness.onPostgres, "a server's database exists before Sluice opens it"))
    func noDatabase() async {
        let cli = CLIHarness()
        let output = await cli.run(["worker", "list"])
        #expect(output.status == 64)
        #expect(output.stderr.contains("run `sluice init` first"))
        #expect(!FileManager.default.fileExists(atPath: cli.database))
    }

    @Test("patch list --limit gives the newest entries; a negative limit is an input error")
    func patchListLimit() async throws {
        let cli = await CLIHarness().initialise()
        var ids: [String] = []
        for index in 0..<3 {
            let created = try await cli.object(["patch", "create", "--project", "p\(index)"])
            ids.append(try #require(created["ledger_id"] as? String))
        }
        let listed = try await cli.run(["patch", "list", "--limit", "2", "--json"]).lines()
        #expect(listed.compactMap { $0["ledger_id"] as? String } == [ids[2], ids[1]])
        #expect(try await cli.run(["patch", "list", "--json"]).lines().count == 3)
        #expect(await cli.run(["patch", "list", "--limit", "-1"]).status == 64)
    }

    @Test("a server URL in any case is a server: unreachable, it says so in words and creates no file")
    func unreachableServer() async throws {
        let directory = TemporaryDirectory()
        let url = "POSTGRES://sluice:secret@127.0.0.1:1/ledger"
        let output = try await CommandLineProcess.run(["init", "--db", url], directory: directory.path)
        #expect(output.status == 1)
        #expect(output.stderr.contains("could not be reached"), "\(output.stderr)")
        #expect(!output.stderr.contains("secret"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test("worker commands move a worker through its lifecycle")
    func workerLifecycle() async throws {
        let cli = await CLIHarness().initialise()
        let created = try await cli.object([
            "worker", "create", "--type", "executor", "--config", #"{"max_parallel_tasks": 2}"#,
            "--metadata", #"{"agent": "codex"}"#,
        ])
        let id = try #require(created["worker_id"] as? String)
        #expect((created["config"] as? [String: Any])?["max_parallel_tasks"] as? Int == 2)
        await #expect(try cli.object(["worker", "assign", id, "--task", "T-1"])["current_task_id"] as? String == "T-1")
        await #expect(try cli.object(["worker", "heartbeat", id])["state"] as? String == "busy")
        await #expect(try cli.object(["worker", "pause", id])["state"] as? String == "paused")
        await #expect(try cli.object(["worker", "resume", id])["state"] as? String == "busy")
        let completed = try await cli.object(["worker", "complete", id, "--seconds", "2.5", "--failed"])
        #expect((completed["statistics"] as? [String: Any])?["tasks_failed"] as? Int == 1)
        let shown = await cli.run(["worker", "show", id])
        #expect(shown.stdout.contains("0 completed, 1 failed"))
        await #expect(cli.run(["worker", "list", "--state", "idle"]).stdout.contains(id))
        await #expect(cli.run(["worker", "list", "--type", "monitor"]).stdout.contains("no workers"))
        await #expect(cli.run(["worker", "stale", "--timeout", "3600"]).stdout.contains("no stale workers"))
        await #expect(try cli.run(["worker", "stale", "--timeout", "0", "--json"]).lines().isEmpty == false)
        let crashed = try await cli.object(["worker", "crash", id, "--error", "oom", "--stack-trace", "at 0x1"])
        #expect((crashed["crash_info"] as? [String: Any])?["error_message"] as? String == "oom")
        let again = await cli.run(["worker", "stop", id])
        #expect(again.status == 3)
        #expect(again.stderr == "error: cannot stop worker \(id): it is crashed; stop needs idle or busy or paused\n")
        let other = try await cli.object([
            "worker", "create", "--type", "monitor", "--id", "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        ])
        #expect(other["worker_id"] as? String == "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        await #expect(cli.run(["worker", "stop", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]).stdout.contains("now stopped"))
    }

    @Test("worker input errors exit 64 and store nothing")
    func workerInputErrors() async throws {
        let cli = await CLIHarness().initialise()
        for arguments in [
            ["worker", "create", "--type", "robot"], ["worker", "create", "--type", "executor", "--metadata", "{x"],
            ["worker", "create", "--type", "executor", "--metadata", "[1]"],
            ["worker", "create", "--type", "executor", "--config", #"{"max_parallel_tasks": 0}"#],
            ["worker", "create", "--type", "executor", "--config", #"{"max_parallel_tasks": "two"}"#],
            ["worker", "create", "--type", "executor", "--id", "not-a-ulid"],
            ["worker", "list", "--state", "asleep"], ["worker", "stale", "--timeout", "soon"],
        ] {
            let output = await cli.run(arguments)
            #expect(output.status == 64, "\(arguments)")
            #expect(output.stderr.hasPrefix("error: "), "\(arguments)")
        }
        await #expect(try cli.run(["worker", "list", "--json"]).lines().isEmpty)
        await #expect(try cli.run(["events", "--json"]).lines().isEmpty)
    }

    @Test("patch commands record a full lifecycle and its history")
    func patchLifecycle() async throws {
        let cli = await CLIHarness().initialise()
        let request = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
        let created = try await cli.object([
            "patch", "create", "--project", "demo", "--workstream", "ws", "--phase", "p1", "--request", request,
        ])
        let id = try #require(created["ledger_id"] as? String)
        let patchID = try #require(created["patch_id"] as? String)
        await #expect(cli.run(["patch", "validate", id, "--format-ok", "--scope-ok", "--constraints-ok"]).status == 0)
        await #expect(cli.run(["patch", "queue", patchID]).stdout.contains("now queued"))
        let applied = try await cli.object([
            "patch", "apply", id, "--ok", "--workspace", "/tmp/ws", "--file", "a", "--file", "a",
        ])
        #expect((applied["apply"] as? [String: Any])?["applied_files"] as? [String] == ["a"])
        await #expect(cli.run(["patch", "verify", id, "--passed"]).status == 0)
        await #expect(cli.run(["patch", "commit", id]).status == 0)
        let history = try await cli.run(["patch", "history", id, "--json"]).lines().map { $0["state"] as? String }
        #expect(history == ["created", "validated", "queued", "applied", "verified", "committed"])
        await #expect(cli.run(["patch", "history", id]).stdout.contains("tests passed"))
        let shown = await cli.run(["patch", "show", id])
        #expect(shown.stdout.contains("state:") && shown.stdout.contains("committed"))
        await #expect(cli.run(["patch", "list", "--project", "demo", "--state", "committed"]).stdout.contains(id))
        await #expect(cli.run(["patch", "list", "--workstream", "none"]).stdout.contains("no patches"))
        let rollback = await cli.run(["patch", "rollback", id, "--reason", "oops"])
        #expect(rollback.status == 3)
        #expect(rollback.stderr.contains("it is committed"))
    }

    @Test("a rejected patch exits 1; failures and quarantine are recorded with their reasons")
    func patchRejections() async throws {
        let cli = await CLIHarness().initialise()
        let id = try await #require(try cli.object(["patch", "create", "--project", "p"])["ledger_id"] as? String)
        let rejected = await cli.run(["patch", "validate", id, "--format-ok", "--error", "scope: ../x"])
        #expect(rejected.status == 1)
        #expect(rejected.stdout.contains("apply_failed"))
        await #expect(cli.run(["patch", "queue", id]).status == 0)
        let failed = try await cli.object([
            "patch", "apply", id, "--failed", "--error-code", "conflict", "--error-message", "hunk 1",
        ])
        #expect((failed["apply"] as? [String: Any])?["attempts"] as? Int == 1)
        let quarantined = try await cli.object(["patch", "quarantine", id, "--reason", "conflicts", "--path", "/q/1"])
        #expect((quarantined["quarantine"] as? [String: Any])?["quarantine_path"] as? String == "/q/1")
        await #expect(cli.run(["patch", "show", id]).stdout.contains("conflicts (/q/1)"))
        await #expect(cli.run(["patch", "drop", id, "--reason", "gone"]).status == 0)

        let other = try await #require(try cli.object(["patch", "create", "--project", "p"])["ledger_id"] as? String)
        _ = await cli.run(["patch", "validate", other, "--format-ok", "--scope-ok", "--constraints-ok"])
        _ = await cli.run(["patch", "queue", other])
        _ = await cli.run(["patch", "apply", other, "--ok", "--workspace", "/w"])
        await #expect(
            try cli.object(["patch", "verify", other, "--failed", "--reason", "2 tests failed"])["state"] as? String
                == "apply_failed")
        _ = await cli.run(["patch", "queue", other])
        _ = await cli.run(["patch", "apply", other, "--ok", "--workspace", "/w"])
        let rolledBack = await cli.run(["patch", "rollback", other, "--reason", "bad idea", "--json"])
        #expect(try rolledBack.object()["state"] as? String == "rolled_back")
    }

    @Test(
        "patch usage errors exit 64",
        arguments: [
            ["patch", "apply", "ID", "--ok"], ["patch", "apply", "ID", "--ok", "--failed", "--workspace", "w"],
            ["patch", "apply", "ID", "--failed", "--error-code", "c"], ["patch", "verify", "ID"],
            ["patch", "create"], ["patch", "list", "--state", "limbo"],
            ["patch", "create", "--project", "p", "--request", "x"],
        ])
    func patchUsage(arguments: [String]) async {
        let cli = await CLIHarness().initialise()
        let output = await cli.run(arguments.map { $0 == "ID" ? "01ARZ3NDEKTSV4RRFFQ69G5FAV" : $0 })
        #expect(output.status == 64, "\(output.stderr)")
    }

    @Test("a gate with criteria passes or fails by its results, from a file or standard input")
    func gates() async throws {
        let cli = await CLIHarness().initialise()
        let created = try await cli.object([
            "gate", "create", "--name", "unit", "--type", "unit_tests", "--min-coverage", "80", "--max-failures", "0",
            "--require", "tests.test_calc.test_add", "--timeout", "600", "--project", "demo",
        ])
        let id = try #require(created["gate_id"] as? String)
        await #expect(try cli.object(["gate", "start", id, "--command", "pytest"])["state"] as? String == "running")
        let results = """
            {"coverage_percent": 91.5, "test_cases": [
              {"name": "test_add", "classname": "tests.test_calc", "status": "passed", "duration_seconds": 0.01}]}
            """
        let path = cli.directory.file("results.json")
        try results.write(toFile: path, atomically: true, encoding: .utf8)
        let passed = await cli.run(["gate", "complete", id, "--results", path, "--exit-code", "0"])
        #expect(passed.status == 0, "\(passed.stderr)")
        #expect(passed.stdout.contains("passed"))
        let shown = await cli.run(["gate", "show", id])
        #expect(shown.stdout.contains("required_tests") && shown.stdout.contains("coverage 91.5%"))

        let second = try await #require(
            try cli.object(["gate", "create", "--name", "unit2", "--type", "unit_tests", "--require", "test_mul"])[
                "gate_id"]
                as? String)
        _ = await cli.run(["gate", "start", second])
        let failed = await cli.run(["gate", "complete", second, "--results", "-"], input: results)
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("required_tests: did not run: test_mul"))
        await #expect(cli.run(["gate", "list", "--state", "failed"]).stdout.contains(second))
        await #expect(cli.run(["gate", "list", "--type", "lint"]).stdout.contains("no gates"))

        let third = try await #require(
            try cli.object(["gate", "create", "--name", "lint", "--type", "lint"])["gate_id"] as? String)
        await #expect(cli.run(["gate", "skip", third, "--reason", "no linter"]).status == 0)
        await #expect(cli.run(["gate", "start", third]).status == 3)
    }

    @Test("gate input errors exit 64 and change nothing")
    func gateInputErrors() async throws {
        let cli = await CLIHarness().initialise()
        await #expect(
            cli.run(["gate", "create", "--name", "x", "--type", "unit_tests", "--min-coverage", "120"]).status == 64)
        await #expect(cli.run(["gate", "create", "--name", "x", "--type", "fuzz"]).status == 64)
        let id = try await #require(
            try cli.object(["gate", "create", "--name", "x", "--type", "custom"])["gate_id"] as? String)
        _ = await cli.run(["gate", "start", id])
        let malformed = await cli.run(["gate", "complete", id, "--results", "-"], input: "{not json")
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("invalid JSON in --results"))
        await #expect(cli.run(["gate", "complete", id]).status == 64)
        await #expect(cli.run(["gate", "complete", id, "--results", "/nonexistent.json"]).status == 64)
        await #expect(try cli.object(["gate", "show", id])["state"] as? String == "running")
    }

    @Test("cost commands record exactly and total per currency")
    func costs() async throws {
        let cli = await CLIHarness().initialise()
        for _ in 0..<10 {
            await #expect(
                cli.run(["cost", "record", "--type", "api_call", "--amount", "0.1", "--project", "p"]).status == 0)
        }
        let usage = try await cli.object([
            "cost", "record", "--type", "api_call", "--quantity", "1500", "--rate", "0.000003", "--unit", "tokens",
            "--resource", "claude", "--currency", "EUR", "--metadata", #"{"tokens_input": 1500}"#,
        ])
        #expect("\(usage["amount"]!)" == "0.0045")
        let total = await cli.run(["cost", "total", "--project", "p"])
        #expect(total.stdout.contains("USD       1 "))
        let totals = try await cli.run(["cost", "total", "--json"]).lines()
        #expect(totals.map { $0["currency"] as? String } == ["EUR", "USD"])
        await #expect(cli.run(["cost", "breakdown", "--currency", "USD"]).stdout.contains("api_call"))
        let listed = try await cli.run(["cost", "list", "--limit", "2", "--json"]).lines()
        #expect(listed.count == 2)
        let id = try #require(usage["cost_id"] as? String)
        await #expect(cli.run(["cost", "show", id]).stdout.contains("0.0045 EUR"))
        await #expect(cli.run(["cost", "delete", id]).status == 0)
        await #expect(cli.run(["cost", "show", id]).status == 4)
        await #expect(cli.run(["cost", "total", "--currency", "EUR"]).stdout.contains("no cost records"))
    }

    @Test(
        "cost input errors exit 64 with the reason, and record nothing",
        arguments: [
            (["--amount=-1"], "must not be negative"), (["--amount", "-0.5"], "must not be negative"),
            (["--amount", "1", "--currency", "usd"], "not a currency code"),
            (["--amount", "nan"], "finite"), (["--amount", "1e3"], "plain decimal"),
            (["--amount", "0.0000000001"], "decimal places"), (["--quantity", "1"], "go together"),
            (["--amount", "1", "--metadata", "{"], "invalid JSON in --metadata"), ([], "--amount"),
        ])
    func costErrors(extra: [String], message: String) async throws {
        let cli = await CLIHarness().initialise()
        let output = await cli.run(["cost", "record", "--type", "api_call"] + extra)
        #expect(output.status == 64)
        #expect(output.stderr.contains(message), "\(output.stderr)")
        await #expect(try cli.run(["cost", "list", "--json"]).lines().isEmpty)
    }

    @Test("export prints every record of a kind; events print the log")
    func exportAndEvents() async throws {
        let cli = await CLIHarness().initialise()
        let worker = try await #require(
            try cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String)
        _ = await cli.run(["patch", "create", "--project", "p"])
        _ = await cli.run(["gate", "create", "--name", "g", "--type", "lint"])
        _ = await cli.run(["cost", "record", "--type", "storage", "--amount", "2"])
        for kind in ["workers", "patches", "gates", "costs"] {
            let output = await cli.run(["export", "--kind", kind])
            #expect(output.status == 0)
            #expect(try output.lines().count == 1, "\(kind)")
        }
        await #expect(cli.run(["export", "--kind", "cats"]).status == 64)
        let events = try await cli.run(["events", "--json"]).lines()
        #expect(events.count == 4)
        await #expect(try cli.run(["events", "--entity", worker, "--json"]).lines().count == 1)
        await #expect(try cli.run(["events", "--entity", worker.lowercased(), "--json"]).lines().count == 1)
        await #expect(cli.run(["events", "--after", "3"]).stdout.contains("cost"))
        await #expect(cli.run(["events", "--after", "99"]).stdout.contains("no events"))
    }

    @Test("help prints usage and exits 0")
    func help() async {
        let output = await SluiceRunner.execute(["--help"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("worker"))
        await #expect(SluiceRunner.execute(["frobnicate"]).status == 64)
    }
}
